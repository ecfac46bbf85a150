using Halo.Cli.Configuration;
using Halo.Core.Availability;
using YamlDotNet.RepresentationModel;

namespace Halo.Cli.Model;

/// <summary>
/// Reads a topology file (YAML or JSON) into the availability model. Blocks are inline or named under
/// <c>blocks:</c> and referenced by name; references are resolved depth-first so a cycle is reported
/// with its path and line. Every error names its line and field (exit code 2).
/// </summary>
public static class TopologyLoader
{
    private const string TopFields = "name, system, blocks, period, missionTime, maxFailures";
    private static readonly TimeSpan MaxTime = TimeSpan.FromDays(365 * 1000);

    public static Topology Load(string text, bool isJson)
    {
        var root = new MappingReader(YamlInput.LoadMapping(text, isJson), string.Empty);
        var options = new ReportOptions(
            PeriodHours: root.Duration("period", TimeSpan.FromMinutes(1), MaxTime, bareHours: true)?.TotalHours ?? AvailabilityFigures.HoursPerYear,
            MissionHours: root.Duration("missionTime", TimeSpan.Zero, MaxTime, bareHours: true)?.TotalHours ?? AvailabilityFigures.HoursPerYear,
            MaxFailures: root.Integer("maxFailures", 0, 20) ?? 3);
        var name = root.String("name");

        var named = new Dictionary<string, (YamlNode Node, string Path)>(StringComparer.Ordinal);
        if (root.Mapping("blocks") is { } blocks)
        {
            foreach (var key in blocks.Keys)
            {
                named[key] = (blocks.Value(key)!, blocks.FieldPath(key));
            }
        }

        var systemNode = root.Value("system") ?? throw root.Error("system", "required: the top-level block, inline or the name of an entry in blocks");
        root.RejectUnknown(TopFields);
        var builder = new Builder(named);
        var system = builder.Build(systemNode, "system", name ?? "system");
        foreach (var (key, (node, path)) in named)
        {
            if (!builder.Used.Contains(key))
            {
                throw new InputException(YamlInput.Line(node), path, "defined but never used");
            }
        }

        return new Topology(name ?? system.Name, system, options);
    }

    private sealed class Builder(Dictionary<string, (YamlNode Node, string Path)> named)
    {
        private const string BlockFields = "type, name, of, k, n, component, beta";
        private const string LeafFields = "type, name, availability, mtbf, mttr, failureRate, repairTime, weibull";
        private const string StandbyFields = "type, name, unit, failoverTime, coverage, manualRecovery, standby";
        private readonly List<string> _stack = [];
        private readonly HashSet<YamlNode> _seen = new(ReferenceEqualityComparer.Instance);

        public HashSet<string> Used { get; } = new(StringComparer.Ordinal);

        public Block Build(YamlNode node, string path, string defaultName)
        {
            if (node is YamlScalarNode { Value: { } reference })
            {
                return Resolve(reference, node, path);
            }

            if (node is not YamlMappingNode mapping)
            {
                throw new InputException(YamlInput.Line(node), path, "expected a block (a mapping) or the name of one in blocks");
            }

            // A YAML alias (*name) hands back the very same node: the same objection as a shared named block.
            if (!_seen.Add(mapping))
            {
                throw new InputException(YamlInput.Line(node), path,
                    "this block is a YAML alias of one used elsewhere; a shared block is not independent (copy it, or use kofn with n)");
            }

            var fields = new MappingReader(mapping, path);
            var name = fields.String("name") ?? defaultName;
            var type = fields.String("type") ?? (fields.Has("of") ? null : "component");
            try
            {
                return type switch
                {
                    "component" => Leaf(fields, name),
                    "series" => Series(fields, name),
                    "parallel" => Parallel(fields, name),
                    "kofn" => KOfN(fields, name),
                    "standby" => Standby(fields, name),
                    null => throw fields.Error("type", "required when 'of' is given: series, parallel or kofn"),
                    _ => throw fields.Error("type", $"unknown block type '{type}' (expected component, series, parallel, kofn or standby)"),
                };
            }
            catch (ArgumentException e) when (e is not ArgumentNullException)
            {
                // Core re-checks its invariants and names the parameter; map it back to the field.
                var field = e.ParamName ?? "type";
                throw fields.Error(field, e.Message.Split(" (Parameter", 2)[0]);
            }
        }

        private Block Resolve(string reference, YamlNode node, string path)
        {
            if (!named.TryGetValue(reference, out var target))
            {
                throw new InputException(YamlInput.Line(node), path, $"no block named '{reference}' in blocks");
            }

            if (_stack.Contains(reference))
            {
                var cycle = string.Join(" → ", _stack.SkipWhile(s => s != reference).Append(reference));
                throw new InputException(YamlInput.Line(node), path, $"cycle: {cycle}");
            }

            // A block used twice would be evaluated as two independent copies, silently hiding the shared
            // failure that reuse usually means; say so instead.
            if (!Used.Add(reference))
            {
                throw new InputException(YamlInput.Line(node), path,
                    $"block '{reference}' is already used elsewhere; a shared block is not independent (copy it, or use kofn with n)");
            }

            _stack.Add(reference);
            var block = Build(target.Node, target.Path, reference);
            _stack.RemoveAt(_stack.Count - 1);
            return block;
        }

        private Block[] Children(MappingReader fields, string name)
        {
            var list = fields.Sequence("of") ?? throw fields.Error("of", "required: the list of child blocks");
            if (list.Children.Count == 0)
            {
                throw fields.Error("of", "needs at least one child");
            }

            return [.. list.Children.Select((child, i) => Build(child, $"{fields.FieldPath("of")}[{i}]", $"{name}[{i + 1}]"))];
        }

        private Block Series(MappingReader fields, string name)
        {
            var children = Children(fields, name);
            fields.RejectUnknown("type, name, of");
            return new SeriesBlock(name, children);
        }

        private Block Parallel(MappingReader fields, string name)
        {
            var children = Children(fields, name);
            var beta = fields.Probability("beta") ?? 0;
            fields.RejectUnknown("type, name, of, beta");
            return new ParallelBlock(name, children, beta);
        }

        private Block KOfN(MappingReader fields, string name)
        {
            var k = fields.Integer("k", 1, 10_000) ?? throw fields.Error("k", "required: how many children must be up");
            var beta = fields.Probability("beta") ?? 0;
            Block[] children;
            if (fields.Has("component"))
            {
                var n = fields.Integer("n", 1, 10_000) ?? throw fields.Error("n", "required with 'component': how many identical copies");
                if (fields.Has("of"))
                {
                    throw fields.Error("of", "give either 'of' (a list) or 'component' with 'n', not both");
                }

                if (Build(fields.Value("component")!, fields.FieldPath("component"), name) is not Component component)
                {
                    throw fields.Error("component", "must be a single component (availability, mtbf/mttr, failureRate/repairTime or weibull)");
                }

                children = [.. Enumerable.Range(1, n).Select(i => (Block)component.Scaled($"{component.Name}[{i}]", 1))];
            }
            else
            {
                children = Children(fields, name);
                if (fields.Integer("n", 1, 10_000) is { } n && n != children.Length)
                {
                    throw fields.Error("n", $"n = {n} but 'of' lists {children.Length} children");
                }
            }

            if (k > children.Length)
            {
                throw fields.Error("k", $"k = {k} exceeds n = {children.Length}");
            }

            fields.RejectUnknown(BlockFields);
            return new KOfNBlock(name, k, children, beta);
        }

        private static Component Leaf(MappingReader fields, string name)
        {
            var forms = new[] { "availability", "mtbf", "failureRate", "weibull" }.Where(fields.Has).ToArray();
            if (forms.Length != 1)
            {
                throw fields.Error(forms.Length == 0 ? "availability" : forms[1],
                    "give exactly one of: availability, mtbf + mttr, failureRate + repairTime, weibull + mttr");
            }

            Component component;
            switch (forms[0])
            {
                case "availability":
                    component = Component.FromAvailability(name, fields.Probability("availability")!.Value);
                    break;
                case "mtbf":
                    var mtbf = Hours(fields, "mtbf")!.Value;
                    if (mtbf <= 0)
                    {
                        throw fields.Error("mtbf", "must be > 0");
                    }

                    component = Component.FromMtbfMttr(name, mtbf, Hours(fields, "mttr") ?? throw fields.Error("mttr", "required with mtbf"));
                    break;
                case "failureRate":
                    var rate = fields.Number("failureRate", 0, 1e9)!.Value;
                    component = Component.FromRates(name, rate, Hours(fields, "repairTime") ?? throw fields.Error("repairTime", "required with failureRate"));
                    break;
                default:
                    var weibull = fields.Mapping("weibull")!;
                    var shape = weibull.Number("shape", 0.01, 100) ?? throw weibull.Error("shape", "required");
                    var scale = Hours(weibull, "scale") ?? throw weibull.Error("scale", "required");
                    if (scale <= 0)
                    {
                        throw weibull.Error("scale", "must be > 0");
                    }

                    weibull.RejectUnknown("shape, scale");
                    component = Component.FromLifetime(name, new WeibullLifetime(shape, scale), Hours(fields, "mttr") ?? throw fields.Error("mttr", "required with weibull"));
                    break;
            }

            fields.RejectUnknown(LeafFields);
            return component;
        }

        private Block Standby(MappingReader fields, string name)
        {
            var unit = fields.Mapping("unit") ?? throw fields.Error("unit", "required: the unit's mtbf + mttr or failureRate + repairTime");
            var leaf = Leaf(unit, name);
            if (leaf.Lifetime is not ExponentialLifetime { FailureRate: > 0 } lifetime || leaf.Mttr is not > 0)
            {
                var given = new[] { "mtbf", "failureRate", "availability", "weibull" }.FirstOrDefault(unit.Has) ?? "mtbf";
                throw unit.Error(given, "a standby unit needs mtbf + mttr (or failureRate + repairTime), both > 0");
            }

            var failover = Hours(fields, "failoverTime") ?? throw fields.Error("failoverTime", "required (e.g. 30s)");
            var coverage = fields.Probability("coverage") ?? 1;
            var manual = Hours(fields, "manualRecovery");
            if (coverage < 1 && manual is null)
            {
                throw fields.Error("manualRecovery", "required when coverage < 1: how long an operator takes to restore service");
            }

            var standby = fields.String("standby") ?? "hot";
            var factor = standby switch
            {
                "hot" => 1.0,
                "cold" => 0.0,
                _ => double.TryParse(standby, System.Globalization.CultureInfo.InvariantCulture, out var f) && f is >= 0 and <= 1
                    ? f
                    : throw fields.Error("standby", $"'{standby}' must be hot, cold, or the standby's failure rate as a fraction of the active's (0 to 1)"),
            };
            fields.RejectUnknown(StandbyFields);
            return new StandbyPairBlock(name, lifetime.FailureRate, leaf.Mttr.Value, failover, coverage, manual ?? 0, factor);
        }

        private static double? Hours(MappingReader fields, string key) =>
            fields.Duration(key, TimeSpan.Zero, MaxTime, bareHours: true)?.TotalHours;
    }
}
