using Halo.Gateway.Configuration;
using YamlDotNet.RepresentationModel;

namespace Halo.IntegrationTests;

/// <summary>What deploy/ ships must load: the gateway configs through the gateway's own loader, the manifests as YAML.</summary>
public sealed class DeployTests
{
    private static readonly string Root = FindRoot();

    [Fact]
    public void GatewayConfig_Shipped_LoadsWithoutErrors()
    {
        var settings = GatewayConfigLoader.LoadFile(Path.Combine(Root, "deploy", "gateway.yaml"), null, null);

        Assert.NotNull(settings);
    }

    [Fact]
    public void KubernetesGatewayConfigMap_Embedded_LoadsWithoutErrors()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Root, "deploy", "kubernetes", "base", "halo-gateway.yaml"))));
        var configMap = stream.Documents.Select(d => (YamlMappingNode)d.RootNode).Single(d => ((YamlScalarNode)d["kind"]).Value == "ConfigMap");
        var text = ((YamlScalarNode)((YamlMappingNode)configMap["data"])["gateway.yaml"]).Value!;
        var file = Path.Combine(Path.GetTempPath(), $"halo-k8s-gateway-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, text);
        try
        {
            Assert.NotNull(GatewayConfigLoader.LoadFile(file, null, null));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Manifests_EveryDocument_HasKindAndName()
    {
        foreach (var path in Directory.GetFiles(Path.Combine(Root, "deploy", "kubernetes"), "*.yaml", SearchOption.AllDirectories).Where(p => !p.EndsWith("kustomization.yaml", StringComparison.Ordinal)))
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(path)));
            Assert.All(stream.Documents, d =>
            {
                var root = (YamlMappingNode)d.RootNode;
                Assert.True(root.Children.ContainsKey("kind"), path);
                Assert.True(((YamlMappingNode)root["metadata"]).Children.ContainsKey("name"), path);
            });
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Halo.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("repository root (Halo.slnx) not found above " + AppContext.BaseDirectory);
    }
}
