using System.CommandLine;
using Halo.Cli.Commands;

namespace Halo.Cli.Tests;

public sealed class AgentFailsafeFlagsTests
{
    [Theory]
    [InlineData("--failsafe", "maybe")]
    [InlineData("--failsafe", "")]
    [InlineData("--failsafe-listen", "localhost:0")]
    [InlineData("--failsafe-listen", "127.0.0.1")]
    [InlineData("--failsafe-listen", "127.0.0.1:70000")]
    public void Agent_BadFailsafeFlag_Exit2NamingTheFlag(string flag, string value)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try
        {
            var exit = AgentCommand.Create().Parse(["--group", "cache", "--member", "r1", flag, value])
                .Invoke(new InvocationConfiguration { Output = output, Error = error });
            Assert.Equal(2, exit);
        }
        finally
        {
            Console.SetError(previous);
        }

        Assert.Contains(flag + ":", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Agent_FailsafeIsOnByDefault_AndHelpSaysSo()
    {
        Assert.True(AgentCommand.FailsafeSwitch(AgentCommand.FailsafeDefault));
        Assert.Equal("on", AgentCommand.Create().Parse(["--group", "cache", "--member", "r1"]).GetValue<string>("--failsafe"));

        var output = new StringWriter();
        var exit = new RootCommand { AgentCommand.Create() }.Parse(["agent", "--help"]).Invoke(new InvocationConfiguration { Output = output, Error = new StringWriter() });
        Assert.Equal(0, exit);
        var help = output.ToString();
        var line = help.Split('\n').SkipWhile(l => !l.Contains("--failsafe <", StringComparison.Ordinal)).Take(3);
        Assert.Contains("on (the default)", string.Join(' ', line), StringComparison.Ordinal);
    }

    [Fact]
    public void FailsafeSwitch_OnOff()
    {
        Assert.True(AgentCommand.FailsafeSwitch("on"));
        Assert.False(AgentCommand.FailsafeSwitch("off"));
        Assert.Equal(System.Net.IPAddress.Loopback, AgentCommand.FailsafeEndpoint("127.0.0.1:0").Address);
    }
}
