namespace Halo.Bench;

/// <summary>Time since a run started, on TimeProvider.System (Stopwatch is banned outside tests: BannedSymbols.txt).</summary>
internal sealed class RunClock
{
    private readonly long _start = TimeProvider.System.GetTimestamp();

    public TimeSpan Elapsed => TimeProvider.System.GetElapsedTime(_start);
}
