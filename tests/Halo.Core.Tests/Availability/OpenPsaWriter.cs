using System.Globalization;
using System.Xml.Linq;
using Halo.Core.Availability;

namespace Halo.Core.Tests.Availability;

/// <summary>
/// Writes a block diagram as an Open-PSA MEF fault tree (top event = system down) for SCRAM.
/// Series → OR of failures, parallel → AND, k-of-n up → at least n − k + 1 failed, beta → a
/// beta-factor CCF group. An active/standby pair is a Markov model with sequence-dependent states
/// (failover in progress, uncovered failure), which a static fault tree cannot express.
/// </summary>
internal static class OpenPsaWriter
{
    /// <param name="mission">
    /// When false, each basic event is the component's steady-state unavailability. When true, it is an
    /// exponential lifetime over SCRAM's mission time (no repair), to check mission reliability.
    /// </param>
    public static XDocument Write(Block system, bool mission = false)
    {
        var state = new State(mission);
        var top = state.Failure(system);
        var tree = new XElement("define-fault-tree", new XAttribute("name", "halo"));
        tree.Add(new XElement("define-gate", new XAttribute("name", "top"), top));
        tree.Add(state.Gates);
        tree.Add(state.CcfGroups);
        return new XDocument(new XElement("opsa-mef", tree, new XElement("model-data", state.Events)));
    }

    private sealed class State(bool mission)
    {
        private int _next;

        public List<XElement> Gates { get; } = [];

        public List<XElement> CcfGroups { get; } = [];

        public List<XElement> Events { get; } = [];

        public XElement Failure(Block block)
        {
            switch (block)
            {
                case Component c:
                    var name = $"e{++_next}";
                    Events.Add(new XElement("define-basic-event", new XAttribute("name", name), Probability(c)));
                    return new XElement("basic-event", new XAttribute("name", name));
                case SeriesBlock s:
                    return Gate(s.Children, "or", 1);
                case ParallelBlock p when p.Beta > 0:
                    return CommonCause(p.Children, p.Children.Count, p.Beta);
                case ParallelBlock p:
                    return Gate(p.Children, "and", p.Children.Count);
                case KOfNBlock k when k.Beta > 0:
                    return CommonCause(k.Children, k.Children.Count - k.K + 1, k.Beta);
                case KOfNBlock k:
                    return Gate(k.Children, "atleast", k.Children.Count - k.K + 1);
                default:
                    throw new NotSupportedException($"{block.GetType().Name} has no static fault-tree form");
            }
        }

        private XElement CommonCause(IReadOnlyList<Block> children, int failuresNeeded, double beta)
        {
            // CCF members are declared by the group, not as ordinary basic events.
            var members = children.Select(_ => $"e{++_next}").ToArray();
            var group = $"ccf{++_next}";
            CcfGroups.Add(new XElement("define-CCF-group", new XAttribute("name", group), new XAttribute("model", "beta-factor"),
                new XElement("members", members.Select(m => new XElement("basic-event", new XAttribute("name", m)))),
                new XElement("distribution", Probability((Component)children[0])),
                new XElement("factor", new XAttribute("level", children.Count), Float(beta))));
            return Combine(members.Select(m => new XElement("basic-event", new XAttribute("name", m))).ToArray(), failuresNeeded);
        }

        private XElement Gate(IReadOnlyList<Block> children, string kind, int failuresNeeded) =>
            Combine([.. children.Select(Failure)], failuresNeeded);

        private XElement Combine(XElement[] inputs, int failuresNeeded)
        {
            if (inputs.Length == 1)
            {
                return inputs[0];
            }

            var formula = failuresNeeded == 1 ? new XElement("or")
                : failuresNeeded == inputs.Length ? new XElement("and")
                : new XElement("atleast", new XAttribute("min", failuresNeeded));
            formula.Add(inputs);
            var name = $"g{++_next}";
            Gates.Add(new XElement("define-gate", new XAttribute("name", name), formula));
            return new XElement("gate", new XAttribute("name", name));
        }

        private XElement Probability(Component c)
        {
            if (!mission)
            {
                return Float(c.Unavailability);
            }

            var lifetime = c.Lifetime as ExponentialLifetime
                ?? throw new NotSupportedException("mission mode needs exponential lifetimes");
            return new XElement("exponential", Float(lifetime.FailureRate), new XElement("system-mission-time"));
        }

        private static XElement Float(double value) =>
            new("float", new XAttribute("value", value.ToString("R", CultureInfo.InvariantCulture)));
    }
}
