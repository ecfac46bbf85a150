using System.CommandLine;
using Halo.Cli.Commands;

CommonOptions.UnwrapWhenRedirected();
ParentWatch.FromEnvironment();
var root = new RootCommand("Halo: registration and discovery, failure detection, load balancing, failover and availability maths in one program.");
foreach (var option in CommonOptions.Global)
{
    root.Add(option);
}

root.Add(ServerCommand.Create());
root.Add(UpCommand.Create());
root.Add(GatewayCommand.Create());
root.Add(SampleCommand.Create());
root.Add(AgentCommand.Create());
root.Add(TcpProxyCommand.Create());
root.Add(TokenCommands.Create());
root.Add(CertCommand.Create());
foreach (var command in GroupCommands.Create()) root.Add(command);
root.Add(Halo.Cli.Model.ModelCommand.Create());
root.Add(SnapshotCommand.Create());
foreach (var command in OperatorCommands.Create())
{
    root.Add(command);
}

// Ctrl+C gives an action 10 s (not the default 2 s) to stop what it started before the process exits.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(10) });
