using System.Diagnostics;
using System.Globalization;

namespace Halo.Cli.Commands;

/// <summary>
/// Ends a child of `halo up` when `halo up` is gone, however it ended (Ctrl+C, kill -9): the child sends itself SIGTERM,
/// which stops it the normal way (a gateway closes, an agent stops its redis-server), and exits outright if that takes
/// more than 10 s. The parent's pid comes from <see cref="Variable"/>, which <see cref="ChildProcess"/> sets.
/// </summary>
internal static class ParentWatch
{
    public const string Variable = "HALO_EXIT_WITH";

    /// <summary>Starts watching when <see cref="Variable"/> names a pid.</summary>
    public static void FromEnvironment()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable(Variable), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0)
        {
            Start(pid);
        }
    }

    public static void Start(int pid) => _ = Task.Run(async () =>
    {
        while (Alive(pid))
        {
            await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System);
        }

        using (var term = Process.Start("kill", ["-TERM", Environment.ProcessId.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        await Task.Delay(TimeSpan.FromSeconds(10), TimeProvider.System);
        Environment.Exit(143);
    });

    private static bool Alive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
