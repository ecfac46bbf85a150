using System.Globalization;

namespace Halo.Bench;

/// <summary>Latency samples in milliseconds from many workers, summarised once at the end.</summary>
internal sealed class Latencies
{
    private readonly Lock _gate = new();
    private readonly List<double> _samples = [];

    public void AddRange(List<double> samples)
    {
        lock (_gate)
        {
            _samples.AddRange(samples);
        }
    }

    public void Add(double sample)
    {
        lock (_gate)
        {
            _samples.Add(sample);
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _samples.Count;
            }
        }
    }

    public string Summary()
    {
        lock (_gate)
        {
            _samples.Sort();
            return FormattableString.Invariant($"p50={Percentile(0.50):F2}ms p99={Percentile(0.99):F2}ms max={Percentile(1):F2}ms");
        }
    }

    private double Percentile(double p) =>
        _samples.Count == 0 ? double.NaN : _samples[Math.Min(_samples.Count - 1, (int)Math.Ceiling(p * _samples.Count) - (p == 0 ? 0 : 1))];
}

/// <summary>The one line each mode prints; run.sh greps `RESULT` and reads `rate=`.</summary>
internal static class Report
{
    public static void Result(string mode, string details) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT mode={mode} {details}"));

    /// <summary>
    /// The load generator's own CPU per operation since <paramref name="start"/>: it shares the cores with the system under
    /// test, so a comparison is like with like only when the two clients cost about the same.
    /// </summary>
    public static string ClientCpu(TimeSpan start, int operations) =>
        string.Create(CultureInfo.InvariantCulture, $"client_cpu_us={(operations == 0 ? 0 : (Environment.CpuUsage.TotalTime - start).TotalMicroseconds / operations):F0}");
}
