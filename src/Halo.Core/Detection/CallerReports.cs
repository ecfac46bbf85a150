namespace Halo.Core.Detection;

/// <summary>
/// When caller reports count as evidence against an instance. Defaults: within the last 30 s, at least
/// 20 requests reported with at least 90% of them failed. A backend that answers heartbeats but fails
/// nearly every real request is not healthy; one that fails a few is the gateway's business (retries,
/// outlier ejection), not the registry's.
/// </summary>
public sealed record CallerEvidenceOptions
{
    /// <summary>Turns caller evidence on or off. Default on.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>How long a report counts. Default 30 s; range 1 s – 1 h.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Fewest reported requests in the window before a verdict is drawn. Default 20; range 1 – 1,000,000.</summary>
    public int MinRequests { get; init; } = 20;

    /// <summary>Failed share of reported requests at or above which the instance is critical. Default 0.9; range (0, 1].</summary>
    public double FailureRatio { get; init; } = 0.9;
}

/// <summary>
/// Reports from callers (gateways) about one instance, newest per reporter, judged over a sliding window. Memory is
/// bounded: a reporter whose reports have all left the window is forgotten, and at most <see cref="MaxReporters"/>
/// reporters are kept (reporter names come from the network, so their number must not grow without limit).
/// </summary>
public sealed class CallerReports(CallerEvidenceOptions options)
{
    /// <summary>Most reporters remembered per instance; past it the one heard from least recently is dropped.</summary>
    public const int MaxReporters = 64;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<(DateTimeOffset At, long Requests, long Failures)>> _byReporter = new(StringComparer.Ordinal);

    /// <summary>Reporters currently remembered (for tests and metrics).</summary>
    public int ReporterCount { get { lock (_gate) { return _byReporter.Count; } } }

    public void Add(string reporter, DateTimeOffset at, long requests, long failures)
    {
        lock (_gate)
        {
            Forget(at);
            if (!_byReporter.TryGetValue(reporter, out var list))
            {
                if (_byReporter.Count >= MaxReporters)
                {
                    var quietest = _byReporter.MinBy(kv => kv.Value[^1].At).Key;
                    _byReporter.Remove(quietest);
                }

                _byReporter[reporter] = list = [];
            }

            list.Add((at, requests, failures));
        }
    }

    /// <summary>The evidence at <paramref name="now"/>: whether callers say the instance fails, and the totals behind it.</summary>
    public CallerVerdict Judge(DateTimeOffset now)
    {
        long requests = 0, failures = 0;
        List<string> reporters;
        lock (_gate)
        {
            // The detector loop asks for every instance on every tick; most have never been reported on.
            if (_byReporter.Count == 0)
            {
                return CallerVerdict.None;
            }

            reporters = [];
            foreach (var (reporter, list) in _byReporter)
            {
                var counted = false;
                foreach (var r in list)
                {
                    if (now - r.At <= options.Window)
                    {
                        requests += r.Requests;
                        failures += r.Failures;
                        counted = true;
                    }
                }

                if (counted)
                {
                    reporters.Add(reporter);
                }
            }

            if (reporters.Count < _byReporter.Count)
            {
                Forget(now);
            }
        }

        var failing = options.Enabled && requests >= options.MinRequests && failures >= options.FailureRatio * requests;
        return new CallerVerdict(failing, requests, failures, reporters);
    }

    /// <summary>Drops reports older than the window, and reporters left with none. Under the lock.</summary>
    private void Forget(DateTimeOffset now)
    {
        List<string>? gone = null;
        foreach (var (reporter, list) in _byReporter)
        {
            list.RemoveAll(r => now - r.At > options.Window);
            if (list.Count == 0)
            {
                (gone ??= []).Add(reporter);
            }
        }

        foreach (var reporter in gone ?? [])
        {
            _byReporter.Remove(reporter);
        }
    }
}

/// <summary>What callers reported within the window.</summary>
public sealed record CallerVerdict(bool Failing, long Requests, long Failures, IReadOnlyList<string> Reporters)
{
    public static CallerVerdict None { get; } = new(false, 0, 0, []);

    public string Describe() => FormattableString.Invariant(
        $"callers report {Failures} of {Requests} requests failed ({string.Join(", ", Reporters)})");
}
