namespace Halo.IntegrationTests.Security;

/// <summary>A temporary directory of `halo cert dev` CAs (each in its own folder), deleted when disposed.</summary>
internal sealed class DevCertificateDirectory(string name) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>The scratch directory itself, for other files of the test.</summary>
    public string Root { get; } = HaloProcess.TempDirectory(name);

    /// <summary>Runs the real `halo cert dev --out ROOT/NAME` and returns that folder (ca.pem, server.pem, client.pem and keys).</summary>
    public async Task<string> CreateAsync(string ca)
    {
        var directory = Path.Combine(Root, ca);
        var (code, printed) = await HaloProcess.RunAsync(Bound, "cert", "dev", "--out", directory);
        Assert.True(code == 0, printed);
        return directory;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A straggling handle only leaves a temp directory behind.
        }
    }
}
