using System.Globalization;

namespace Halo.Core.Detection;

/// <summary>
/// One instance's health state machine. The detector's raw verdicts pass through hysteresis:
/// <see cref="DetectorOptions.DownAfter"/> consecutive critical observations before Critical (the
/// observations before that show as Suspect), <see cref="DetectorOptions.UpAfter"/> heartbeats without a
/// critical observation before a Critical instance is Passing again. Request threads call
/// <see cref="RecordHeartbeat"/> while one evaluator loop calls <see cref="Evaluate(DateTimeOffset)"/>;
/// a private lock per instance makes that safe, and the heartbeat path allocates nothing.
/// </summary>
public sealed class InstanceHealth
{
    private readonly Lock _gate = new();
    private readonly DetectorOptions _options;
    private readonly IFailureDetector _detector;
    private readonly HeartbeatHistory _history;
    private HealthStatus _status = HealthStatus.Passing;
    private int _criticalObservations;
    private int _heartbeatsSinceCritical;
    private DateTimeOffset? _criticalSince;
    private bool _awaitingHeartbeat;

    /// <summary>A newly registered instance: Passing, with its first heartbeat deadline counted from <paramref name="registeredAt"/>.</summary>
    /// <exception cref="ArgumentException">The options fail <see cref="DetectorOptionsValidator"/>.</exception>
    public InstanceHealth(DetectorOptions options, DateTimeOffset registeredAt)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = DetectorOptionsValidator.Validate(options);
        if (errors.Count > 0)
        {
            // Fail at registration: DownAfter = 0 or a zero deviation would misjudge silently later.
            throw new ArgumentException(
                "Invalid detector options: " + string.Join("; ", errors.Select(e => $"{e.Field} {e.Message}")), nameof(options));
        }

        _options = options;
        _detector = FailureDetector.Create(options);
        _history = new HeartbeatHistory(registeredAt, options.Kind == DetectorKind.PhiAccrual ? options.SampleWindow : 0);
    }

    /// <summary>
    /// An instance this server starts judging part-way through its life (after a restart, or when its service moves here
    /// from a server that died): its published status is kept and its silence counts from <paramref name="now"/>, a grace
    /// period, because heartbeats sent while nobody here judged them are not the instance's fault. A Critical instance stays
    /// Critical until <see cref="DetectorOptions.UpAfter"/> heartbeats arrive, and a Suspect one stays Suspect until a
    /// heartbeat arrives: the grace period is no evidence of health, only the absence of evidence against it.
    /// </summary>
    public static InstanceHealth Resume(DetectorOptions options, HealthStatus published, DateTimeOffset now)
    {
        var health = new InstanceHealth(options, now);
        health._status = published;
        health._criticalSince = published == HealthStatus.Critical ? now : null;
        health._awaitingHeartbeat = published != HealthStatus.Passing;
        return health;
    }

    /// <summary>The options this instance is judged by.</summary>
    public DetectorOptions Options => _options;

    /// <summary>Current (post-hysteresis) status.</summary>
    public HealthStatus Status { get { lock (_gate) { return _status; } } }

    /// <summary>Last heartbeat received, or null if none since registration.</summary>
    public DateTimeOffset? LastHeartbeat { get { lock (_gate) { return _history.LastHeartbeat; } } }

    /// <summary>When the instance last became Critical, or null when it is not Critical.</summary>
    public DateTimeOffset? CriticalSince { get { lock (_gate) { return _criticalSince; } } }

    /// <summary>Records a heartbeat received at <paramref name="at"/>. Stale or duplicate timestamps are ignored.</summary>
    public void RecordHeartbeat(DateTimeOffset at)
    {
        lock (_gate)
        {
            if (_history.Add(at))
            {
                _awaitingHeartbeat = false;
                if (_status == HealthStatus.Critical)
                {
                    _heartbeatsSinceCritical++;
                }
            }
        }
    }

    /// <summary>The detector's raw verdict at <paramref name="now"/>, without changing any state.</summary>
    /// <remarks>The server counts raw Critical verdicts per service to feed <see cref="MassFailureBrake"/>.</remarks>
    public DetectorVerdict Judge(DateTimeOffset now)
    {
        lock (_gate)
        {
            return _detector.Judge(_history, now);
        }
    }

    /// <summary>
    /// The raw verdict at <paramref name="now"/> and the earliest time it turns worse without a heartbeat
    /// (<see cref="IFailureDetector.WorsensAt"/>), without changing any state.
    /// </summary>
    public (HealthStatus Raw, DateTimeOffset WorsensAt) Outlook(DateTimeOffset now)
    {
        lock (_gate)
        {
            var status = _detector.Judge(_history, now).Status;
            return (status, _detector.WorsensAt(_history, status));
        }
    }

    /// <summary>
    /// True when an evaluation with a Passing raw verdict would change nothing: Passing, no critical observation counted
    /// towards <see cref="DetectorOptions.DownAfter"/>, no heartbeat awaited. An evaluator may skip such an instance until
    /// its verdict can worsen.
    /// </summary>
    public bool IsQuiet
    {
        get
        {
            lock (_gate)
            {
                return _status == HealthStatus.Passing && _criticalObservations == 0 && !_awaitingHeartbeat;
            }
        }
    }

    /// <summary>Evaluates at <paramref name="now"/>; returns the transition, or null when the status did not change.</summary>
    public HealthTransition? Evaluate(DateTimeOffset now) => Evaluate(now, holdCritical: false);

    /// <summary>
    /// Evaluates at <paramref name="now"/>. With <paramref name="holdCritical"/> (the mass-failure brake is
    /// engaged) an instance that would become Critical stays Suspect; one already Critical stays Critical.
    /// </summary>
    public HealthTransition? Evaluate(DateTimeOffset now, bool holdCritical)
    {
        lock (_gate)
        {
            var verdict = _detector.Judge(_history, now);
            var from = _status;
            var (to, cause) = Next(verdict, holdCritical);
            if (to == from)
            {
                return null;
            }

            _status = to;
            _criticalSince = to == HealthStatus.Critical ? now : null;
            if (to == HealthStatus.Critical)
            {
                _heartbeatsSinceCritical = 0;
            }

            return new HealthTransition(from, to, cause, verdict.Evidence, now);
        }
    }

    /// <summary>
    /// True when the instance has been Critical for at least <see cref="DetectorOptions.RemoveAfter"/>.
    /// The caller must not remove while the service's <see cref="MassFailureBrake"/> is engaged.
    /// </summary>
    public bool ShouldRemove(DateTimeOffset now)
    {
        lock (_gate)
        {
            return _options.RemoveAfter is { } removeAfter
                && _criticalSince is { } since
                && now - since >= removeAfter;
        }
    }

    private (HealthStatus To, string Cause) Next(DetectorVerdict verdict, bool holdCritical)
    {
        if (verdict.Status == HealthStatus.Critical)
        {
            _heartbeatsSinceCritical = 0; // a silence breaks the run of recovery heartbeats
            _criticalObservations = Math.Min(_criticalObservations + 1, int.MaxValue - 1);
        }
        else
        {
            _criticalObservations = 0;
        }

        if (_status == HealthStatus.Critical)
        {
            // Recovery needs UpAfter heartbeats with no critical observation in between, so an instance
            // that alternates late and on-time heartbeats does not flap back into rotation.
            return _heartbeatsSinceCritical >= _options.UpAfter
                ? (HealthStatus.Passing, Invariant($"{_heartbeatsSinceCritical} heartbeats after being critical"))
                : (HealthStatus.Critical, string.Empty);
        }

        if (_awaitingHeartbeat && verdict.Status != HealthStatus.Critical)
        {
            // Resumed Suspect: silence is short only because counting restarted; wait for a heartbeat to say more.
            return (_status, string.Empty);
        }

        return verdict.Status switch
        {
            HealthStatus.Critical when _criticalObservations >= _options.DownAfter && !holdCritical =>
                (HealthStatus.Critical, Describe(verdict)),
            HealthStatus.Critical when holdCritical =>
                (HealthStatus.Suspect, Describe(verdict) + "; held suspect by the mass-failure brake"),
            HealthStatus.Critical =>
                (HealthStatus.Suspect, Describe(verdict) + Invariant($"; critical observation {_criticalObservations} of {_options.DownAfter}")),
            HealthStatus.Suspect => (HealthStatus.Suspect, Describe(verdict)),
            _ => (HealthStatus.Passing, Invariant($"heartbeat received ({Seconds(verdict.Evidence.Silence)} s silent)")),
        };
    }

    private string Describe(DetectorVerdict verdict)
    {
        var e = verdict.Evidence;
        var silent = Seconds(e.Silence);
        return e.Phi is { } phi
            ? Invariant($"phi {phi:0.0} (threshold {_options.PhiThreshold:0.##}, {silent} s silent)")
            : Invariant($"missed {e.MissedIntervals ?? 0} heartbeats ({silent} s silent)");
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0#", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString s) => FormattableString.Invariant(s);
}
