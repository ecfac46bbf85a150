using System.Reflection;
using System.Runtime.CompilerServices;
using PublicApiGenerator;

namespace Halo.Client.Tests;

/// <summary>
/// The packages' public API is tracked: any change to it fails here until PublicApi/NAME.txt is updated in the same
/// commit (the test writes NAME.received.txt beside it; review the difference, then rename it over NAME.txt).
/// </summary>
public sealed class PublicApiTests
{
    [Theory]
    [InlineData("Halo.Client")]
    [InlineData("Halo.Extensions.Hosting")]
    [InlineData("Halo.Extensions.ServiceDiscovery")]
    public void PublicApi_Unchanged(string assembly)
    {
        var api = Assembly.Load(assembly).GeneratePublicApi(new ApiGeneratorOptions { ExcludeAttributes = ["System.Runtime.Versioning.TargetFrameworkAttribute", "System.Reflection.AssemblyMetadataAttribute"] })
            .ReplaceLineEndings("\n");
        var approved = Path.Combine(Folder(), "PublicApi", assembly + ".txt");
        var received = Path.ChangeExtension(approved, ".received.txt");
        if (!File.Exists(approved) || File.ReadAllText(approved).ReplaceLineEndings("\n") != api)
        {
            File.WriteAllText(received, api);
            Assert.Fail($"The public API of {assembly} changed. If that is intended, review {received} and move it over {approved}.");
        }

        File.Delete(received);
    }

    private static string Folder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
