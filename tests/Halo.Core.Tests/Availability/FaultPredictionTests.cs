using Halo.Core.Availability;
using Halo.Core.Configuration;

namespace Halo.Core.Tests.Availability;

public sealed class FaultPredictionTests
{
    private static readonly GroupConfig Config = new() { LeaseTtl = TimeSpan.FromSeconds(2), AgentInterval = TimeSpan.FromMilliseconds(100) };

    private static TimeSpan? Predict(FaultKind kind, double seconds = 0, bool onPrimary = true, bool answersOnly = false) =>
        FaultPrediction.Predict("g", Config, new FaultShape(kind, onPrimary, TimeSpan.FromSeconds(seconds), answersOnly))?.Total;

    [Fact]
    public void Predict_KillPrimary_HalfAnAgentIntervalPlusTheTakeover() =>
        Assert.Equal(TimeSpan.FromMilliseconds(50) + FaultPrediction.Takeover, Predict(FaultKind.KillPrimary));

    [Theory]
    [InlineData(FaultKind.KillAgent)]
    [InlineData(FaultKind.CutAgentServer)]
    [InlineData(FaultKind.CutProxyDatabase)]
    public void Predict_FaultOnAReplica_NoWriteRefused(FaultKind kind) => Assert.Null(Predict(kind, 3, onPrimary: false));

    [Fact]
    public void Predict_PauseShorterThanDetection_TheWritesWaitOutThePause()
    {
        // Detection of a stopped database: 50 ms + 250 ms probe timeout + 1 s grace, then the takeover.
        Assert.Equal(TimeSpan.FromSeconds(1.2), Predict(FaultKind.PausePrimary, 1.2));
        Assert.Equal(TimeSpan.FromSeconds(1.3) + FaultPrediction.Takeover, Predict(FaultKind.PausePrimary, 4));
    }

    [Fact]
    public void Predict_AgentServerCut_NothingBeforeTheRenewDeadlineThenHealOrLeaseLapse()
    {
        // Renew deadline 1.5 s (2 s TTL − 500 ms margin) less half an interval: 1.45 s.
        Assert.Null(Predict(FaultKind.CutAgentServer, 1.4));
        Assert.Equal(TimeSpan.FromSeconds(1.8), Predict(FaultKind.CutAgentServer, 1.7)); // heals, the next report renews
        Assert.Equal(TimeSpan.FromSeconds(1.95) + FaultPrediction.Takeover, Predict(FaultKind.CutAgentServer, 4)); // the lease lapses
        Assert.Equal(TimeSpan.FromSeconds(1.45 + 0.3) + FaultPrediction.Takeover, Predict(FaultKind.CutAgentServer, 4, answersOnly: true));
    }

    [Fact]
    public void Predict_RestartServer_UsesTheMeasuredStartWhenGiven()
    {
        var measured = FaultPrediction.Predict("g", Config, new FaultShape(FaultKind.RestartServer, Duration: TimeSpan.FromSeconds(2), ServerStart: TimeSpan.FromSeconds(12)))!;
        Assert.Equal(TimeSpan.FromSeconds(2 + 12) + FaultPrediction.AfterServerStart + FaultPrediction.Takeover, measured.Total);
        Assert.Equal(TimeSpan.FromSeconds(2) + FaultPrediction.ServerStart + FaultPrediction.AfterServerStart + FaultPrediction.Takeover, Predict(FaultKind.RestartServer, 2));
    }

    [Fact]
    public void Predict_CpuStarvationAlone_NoWriteRefused() => Assert.Null(Predict(FaultKind.CpuStarvation, 4));
}
