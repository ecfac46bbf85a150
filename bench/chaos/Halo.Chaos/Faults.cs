using System.Globalization;
using Halo.Core.Availability;

namespace Halo.Chaos;

/// <summary>One trial's fault, drawn from the seed.</summary>
public sealed record FaultPlan(FaultKind Kind, bool OnPrimary, Cut Cut, TimeSpan Duration)
{
    public static string Name(FaultKind kind) => FaultPrediction.Name(kind);

    public static bool TryParse(string name, out FaultKind kind)
    {
        foreach (var k in Enum.GetValues<FaultKind>())
        {
            if (Name(k) == name)
            {
                kind = k;
                return true;
            }
        }

        kind = default;
        return false;
    }

    public static FaultPlan Draw(Random rng, IReadOnlyList<FaultKind> kinds)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var kind = kinds[rng.Next(kinds.Count)];
        TimeSpan Between(double a, double b) => TimeSpan.FromSeconds(a + rng.NextDouble() * (b - a));
        var cut = (Cut)rng.Next(1, 4);
        return kind switch
        {
            FaultKind.PausePrimary => new(kind, true, Cut.None, Between(1, 5)),
            FaultKind.KillAgent => new(kind, rng.Next(2) == 0, Cut.None, Between(1, 3)),
            FaultKind.RestartServer => new(kind, false, Cut.None, Between(1, 3)),
            FaultKind.CpuStarvation => new(kind, false, Cut.None, Between(2, 6)),
            FaultKind.KillPrimaryStarved => new(kind, true, Cut.None, Between(3, 6)),
            FaultKind.CutAgentServer or FaultKind.CutProxyDatabase => new(kind, rng.NextDouble() < 0.7, cut, Between(1, 5)),
            _ => new(kind, true, Cut.None, TimeSpan.Zero),
        };
    }

    /// <summary>The fault as the model sees it (<see cref="FaultPrediction"/>).</summary>
    public FaultShape Shape => new(Kind, OnPrimary, Duration, AnswersOnly: Kind == FaultKind.CutAgentServer && Cut == Cut.FromTarget);

    public override string ToString() => Name(Kind) + (Kind is FaultKind.KillAgent or FaultKind.CutAgentServer or FaultKind.CutProxyDatabase ? $" of a {(OnPrimary ? "primary" : "replica")}" : "") +
        (Cut == Cut.None ? "" : $" cut {Cut}") + (Duration > TimeSpan.Zero ? $" for {Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s" : "");
}
