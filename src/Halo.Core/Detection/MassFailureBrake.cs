namespace Halo.Core.Detection;

/// <summary>
/// Options for <see cref="MassFailureBrake"/>. Defaults: on; engage when more than half of a service's
/// instances (services of 3 or more) would be critical at once. See docs/detection.md for why.
/// </summary>
public sealed record MassFailureBrakeOptions
{
    /// <summary>Whether the brake can engage. Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Engage when the critical fraction is strictly above this. Default 0.5; range (0, 1).</summary>
    public double Threshold { get; init; } = 0.5;

    /// <summary>Services with fewer instances never brake (one failure of two is already 50%). Default 3; range 1 – 1,000,000.</summary>
    public int MinInstances { get; init; } = 3;

    /// <summary>Returns (field, message) for each invalid field; empty when valid. Field names are camelCase.</summary>
    public IReadOnlyList<(string Field, string Message)> Validate()
    {
        var errors = new List<(string Field, string Message)>();
        if (!(Threshold > 0 && Threshold < 1))
        {
            errors.Add(("threshold", "must be greater than 0 and less than 1 (disable the brake with enabled=false instead)"));
        }

        if (MinInstances is < 1 or > 1_000_000)
        {
            errors.Add(("minInstances", "must be between 1 and 1000000"));
        }

        return errors;
    }
}

/// <summary>Whether a brake evaluation changed the brake's state.</summary>
public enum BrakeChange
{
    /// <summary>No change since the previous evaluation.</summary>
    None,
    /// <summary>The brake just engaged: raise an event.</summary>
    Engaged,
    /// <summary>The brake just released: raise an event.</summary>
    Released,
}

/// <summary>The brake's decision for one service on one evaluation tick.</summary>
/// <param name="IsEngaged">True while transitions to Critical must be withheld and removals suspended.</param>
/// <param name="Change">Whether this tick engaged or released the brake.</param>
/// <param name="Total">Instances in the service.</param>
/// <param name="WouldBeCritical">Instances whose raw verdict is Critical this tick.</param>
/// <param name="Cause">Human text for events, e.g. "4 of 6 instances (67%) would be critical; threshold 50%".</param>
public sealed record BrakeDecision(bool IsEngaged, BrakeChange Change, int Total, int WouldBeCritical, string Cause)
{
    /// <summary>Pass to <see cref="InstanceHealth.Evaluate(DateTimeOffset, bool)"/>: hold would-be-critical instances at Suspect.</summary>
    public bool WithholdCritical => IsEngaged;

    /// <summary>When true the server must not remove instances, whatever <see cref="InstanceHealth.ShouldRemove"/> says.</summary>
    public bool SuspendRemoval => IsEngaged;
}

/// <summary>
/// Per-service self-preservation (Eureka's self-preservation mode, Nacos' protection threshold): when
/// too many instances would go critical at once, the likelier cause is on the observer's side (partition,
/// registry pause, network) than a simultaneous failure of most of the fleet, so the registry keeps the
/// last known set instead of emptying it. Call <see cref="Evaluate"/> once per evaluation tick per service.
/// </summary>
public sealed class MassFailureBrake
{
    private readonly Lock _gate = new();
    private readonly MassFailureBrakeOptions _options;
    private bool _engaged;

    /// <summary>Creates a released brake; <paramref name="options"/> are assumed validated.</summary>
    public MassFailureBrake(MassFailureBrakeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <summary>Whether the brake is engaged.</summary>
    public bool IsEngaged { get { lock (_gate) { return _engaged; } } }

    /// <summary>Decides for one tick from the service's instance count and how many have a raw Critical verdict.</summary>
    public BrakeDecision Evaluate(int total, int wouldBeCritical)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        ArgumentOutOfRangeException.ThrowIfNegative(wouldBeCritical);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(wouldBeCritical, total);

        var fraction = total == 0 ? 0 : (double)wouldBeCritical / total;
        var engage = _options.Enabled && total >= _options.MinInstances && fraction > _options.Threshold;
        var cause = FormattableString.Invariant(
            $"{wouldBeCritical} of {total} instances ({fraction:P0}) would be critical; threshold {_options.Threshold:P0}");

        lock (_gate)
        {
            var change = engage == _engaged ? BrakeChange.None
                : engage ? BrakeChange.Engaged
                : BrakeChange.Released;
            _engaged = engage;
            return new BrakeDecision(engage, change, total, wouldBeCritical, cause);
        }
    }
}
