using YamlDotNet.RepresentationModel;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// deploy/kubernetes without a cluster: every manifest parses, the kustomizations name files that exist, and the parts
/// of the highly available option fit together — the servers' --etcd list names the etcd StatefulSet's members through
/// its headless Service, the gateways list every server, the disruption budgets select the pods they protect, the
/// probes are /healthz and /readyz, the admin token comes from a Secret. The single-server option stays as it was.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Root = Path.Combine(FindRoot(), "deploy", "kubernetes");

    private static readonly HashSet<string> Kinds =
        ["Namespace", "ConfigMap", "Service", "Deployment", "StatefulSet", "PodDisruptionBudget", "NetworkPolicy", "Kustomization"];

    [Fact]
    public void EveryManifest_Parses_WithAKnownKindAndAName()
    {
        var files = Directory.GetFiles(Root, "*.yaml", SearchOption.AllDirectories);
        Assert.True(files.Length >= 9, $"expected the base, single and ha manifests under {Root}");
        foreach (var file in files)
        {
            foreach (var doc in Load(file))
            {
                var kind = Scalar(doc, "kind");
                Assert.True(Kinds.Contains(kind), $"{file}: unexpected kind {kind}");
                Assert.False(string.IsNullOrEmpty(Scalar(doc, "apiVersion")), file);
                if (kind != "Kustomization")
                {
                    Assert.False(string.IsNullOrEmpty(Scalar(doc, "metadata", "name")), $"{file}: a {kind} without a name");
                }
            }
        }
    }

    [Fact]
    public void Kustomizations_NameOnlyFilesAndDirectoriesThatExist()
    {
        foreach (var file in Directory.GetFiles(Root, "kustomization.yaml", SearchOption.AllDirectories))
        {
            var doc = Load(file).Single();
            var dir = Path.GetDirectoryName(file)!;
            var named = Strings(doc, "resources").Concat(Sequence(doc, "patches").Select(n => Scalar(n, "path")));
            foreach (var entry in named)
            {
                var path = Path.GetFullPath(Path.Combine(dir, entry));
                Assert.True(File.Exists(path) || File.Exists(Path.Combine(path, "kustomization.yaml")), $"{file} names {entry}, which is missing");
            }
        }

        // `kubectl apply -k deploy/kubernetes` stays the small option.
        Assert.Equal(["single"], Strings(Load(Path.Combine(Root, "kustomization.yaml")).Single(), "resources"));
    }

    [Fact]
    public void Ha_ServersArgs_PointAtEveryMemberOfTheEtcdStatefulSetThroughItsService()
    {
        var docs = Overlay("ha");
        var etcdService = Single(docs, "Service", "halo-etcd");
        var etcd = Single(docs, "StatefulSet", "halo-etcd");
        Assert.Equal("None", Scalar(etcdService, "spec", "clusterIP"));
        Assert.Equal("halo-etcd", Scalar(etcd, "spec", "serviceName"));
        Assert.True(Selects(Map(etcdService, "spec", "selector"), PodLabels(etcd)), "the etcd Service must select the etcd pods");
        var etcdReplicas = int.Parse(Scalar(etcd, "spec", "replicas"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(3, etcdReplicas);
        var clientPort = Sequence(etcdService, "spec", "ports").Single(p => Scalar(p, "name") == "client");
        Assert.Equal("2379", Scalar(clientPort, "port"));
        var members = Enumerable.Range(0, etcdReplicas).Select(i => $"http://halo-etcd-{i}.halo-etcd:2379").ToList();

        var etcdArgs = Args(Container(etcd, "etcd"));
        Assert.Equal(string.Join(',', Enumerable.Range(0, etcdReplicas).Select(i => $"halo-etcd-{i}=http://halo-etcd-{i}.halo-etcd:2380")),
            After(etcdArgs, "--initial-cluster"));

        var server = Single(docs, "StatefulSet", "halo-server");
        Assert.Equal("3", Scalar(server, "spec", "replicas"));
        var serverArgs = Args(Container(server, "server"));
        Assert.Equal("server", serverArgs[0]);
        Assert.Equal(members, After(serverArgs, "--etcd").Split(','));
        Assert.DoesNotContain("--store", serverArgs);
        Assert.Equal("$(POD_NAME)." + Scalar(server, "spec", "serviceName") + ":7400", After(serverArgs, "--advertise"));
        var peers = Single(docs, "Service", Scalar(server, "spec", "serviceName"));
        Assert.Equal("None", Scalar(peers, "spec", "clusterIP"));
    }

    [Fact]
    public void Ha_Gateways_ListEveryServerPod()
    {
        var docs = Overlay("ha");
        var server = Single(docs, "StatefulSet", "halo-server");
        var replicas = int.Parse(Scalar(server, "spec", "replicas"), System.Globalization.CultureInfo.InvariantCulture);
        var patch = Load(Path.Combine(Root, "ha", "gateway-servers.yaml")).Single();
        Assert.Contains(Load(Path.Combine(Root, "ha", "kustomization.yaml")).Single()["patches"].AllNodes.OfType<YamlScalarNode>(), n => n.Value == "gateway-servers.yaml");
        Assert.Equal(("Deployment", "halo-gateway"), (Scalar(patch, "kind"), Scalar(patch, "metadata", "name")));
        var args = Args(Container(patch, "gateway"));
        Assert.Equal(Enumerable.Range(0, replicas).Select(i => $"http://halo-server-{i}.{Scalar(server, "spec", "serviceName")}:7400"),
            After(args, "--server").Split(','));

        // The patch replaces the whole argument list, so it must keep what the base gives the gateway.
        var baseArgs = Args(Container(Single(docs, "Deployment", "halo-gateway"), "gateway"));
        Assert.Equal(baseArgs.Where(a => !a.Contains("halo-server", StringComparison.Ordinal)), args.Where(a => !a.Contains("halo-server", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("ha", "halo-server", 3)]
    [InlineData("single", "halo-server", 1)]
    public void Servers_ProbesHealthzAndReadyz_TokenFromASecret(string overlay, string name, int replicas)
    {
        var docs = Overlay(overlay);
        var server = Single(docs, "StatefulSet", name);
        Assert.Equal(replicas.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(server, "spec", "replicas"));
        var container = Container(server, "server");
        Assert.Equal("/readyz", Scalar(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/healthz", Scalar(container, "livenessProbe", "httpGet", "path"));
        var port = Scalar(container, "readinessProbe", "httpGet", "port");
        Assert.Contains(Sequence(container, "ports"), p => Scalar(p, "name") == port && Scalar(p, "containerPort") == "7400");

        var tokenFile = After(Args(container), "--bootstrap-token-file");
        var mount = Sequence(container, "volumeMounts").Single(m => tokenFile.StartsWith(Scalar(m, "mountPath") + "/", StringComparison.Ordinal));
        var volume = Sequence(server, "spec", "template", "spec", "volumes").Single(v => Scalar(v, "name") == Scalar(mount, "name"));
        Assert.Equal("halo-admin-token", Scalar(volume, "secret", "secretName"));
        Assert.Equal(overlay == "ha", Args(container).Contains("--etcd"));
        Assert.Equal(overlay == "ha", docs.Any(d => Scalar(d.Doc, "kind") == "StatefulSet" && Scalar(d.Doc, "metadata", "name") == "halo-etcd"));
    }

    [Theory]
    [InlineData("ha", "halo-server", "StatefulSet", "halo-server")]
    [InlineData("ha", "halo-etcd", "StatefulSet", "halo-etcd")]
    [InlineData("ha", "halo-gateway", "Deployment", "halo-gateway")]
    [InlineData("single", "halo-gateway", "Deployment", "halo-gateway")]
    public void DisruptionBudget_SelectsItsPodsAndNoOthers(string overlay, string budget, string kind, string workload)
    {
        var docs = Overlay(overlay);
        var pdb = Single(docs, "PodDisruptionBudget", budget);
        var selector = Map(pdb, "spec", "selector", "matchLabels");
        foreach (var (_, doc) in docs.Where(d => Scalar(d.Doc, "kind") is "StatefulSet" or "Deployment"))
        {
            var mine = Scalar(doc, "kind") == kind && Scalar(doc, "metadata", "name") == workload;
            Assert.True(Selects(selector, PodLabels(doc)) == mine, $"{budget} {(mine ? "must" : "must not")} select the pods of {Scalar(doc, "metadata", "name")}");
        }

        if (budget == "halo-etcd")
        {
            Assert.Equal("2", Scalar(pdb, "spec", "minAvailable")); // a quorum of three survives any voluntary disruption
        }
    }

    // --- A small reader over YamlDotNet's representation model, enough for these checks. ---

    /// <summary>The resources an overlay builds from: its own files and those of the directories it names (patches left out).</summary>
    private static List<(string File, YamlMappingNode Doc)> Overlay(string name)
    {
        var result = new List<(string, YamlMappingNode)>();
        void Add(string dir)
        {
            var kustomization = Load(Path.Combine(dir, "kustomization.yaml")).Single();
            foreach (var entry in Strings(kustomization, "resources"))
            {
                var path = Path.GetFullPath(Path.Combine(dir, entry));
                if (Directory.Exists(path))
                {
                    Add(path);
                }
                else
                {
                    result.AddRange(Load(path).Select(d => (path, d)));
                }
            }
        }

        Add(Path.Combine(Root, name));
        return result;
    }

    private static YamlMappingNode Single(List<(string File, YamlMappingNode Doc)> docs, string kind, string name) =>
        docs.Where(d => Scalar(d.Doc, "kind") == kind && Scalar(d.Doc, "metadata", "name") == name)
            .Select(d => d.Doc).Single();

    private static YamlMappingNode Container(YamlMappingNode workload, string name) =>
        (YamlMappingNode)Sequence(workload, "spec", "template", "spec", "containers").Single(c => Scalar(c, "name") == name);

    private static List<string> Args(YamlMappingNode container) => Strings(container, "args");

    private static string After(List<string> args, string flag)
    {
        var i = args.IndexOf(flag);
        Assert.True(i >= 0 && i + 1 < args.Count, $"{flag} is not among the arguments: {string.Join(' ', args)}");
        return args[i + 1];
    }

    private static YamlMappingNode PodLabels(YamlMappingNode workload) => Map(workload, "spec", "template", "metadata", "labels");

    private static bool Selects(YamlMappingNode selector, YamlMappingNode labels) =>
        selector.Children.Count > 0 && selector.Children.All(kv => labels.Children.TryGetValue(kv.Key, out var v) && v.Equals(kv.Value));

    private static List<YamlMappingNode> Load(string file)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(file)));
        return stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>().ToList();
    }

    private static YamlNode? Node(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(key, out var next))
            {
                return null;
            }

            node = next;
        }

        return node;
    }

    private static string Scalar(YamlNode node, params string[] path) => (Node(node, path) as YamlScalarNode)?.Value ?? "";

    private static YamlMappingNode Map(YamlNode node, params string[] path) =>
        Node(node, path) as YamlMappingNode ?? throw new Xunit.Sdk.XunitException($"no mapping at {string.Join('.', path)}");

    private static IEnumerable<YamlMappingNode> Sequence(YamlNode node, params string[] path) =>
        (Node(node, path) as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [];

    private static List<string> Strings(YamlNode node, params string[] path) =>
        (Node(node, path) as YamlSequenceNode)?.Children.OfType<YamlScalarNode>().Select(n => n.Value!).ToList() ?? [];

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
