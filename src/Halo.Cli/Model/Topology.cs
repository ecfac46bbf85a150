using Halo.Core.Availability;

namespace Halo.Cli.Model;

/// <summary>A loaded topology: the root block and what the report should cover.</summary>
public sealed record Topology(string Name, Block System, ReportOptions Options);
