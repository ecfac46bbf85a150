using System.CommandLine;
using Halo.Cli.Model;

namespace Halo.Cli.Tests.Model;

/// <summary>Invokes <c>halo model</c> in-process with captured output.</summary>
internal static class CommandRunner
{
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = ModelCommand.Create().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>Writes <paramref name="content"/> to a temp file with the given extension and runs the command on it.</summary>
    public static (int ExitCode, string Output, string Error) RunOn(string content, string extension, params string[] extra)
    {
        var path = Path.Combine(Path.GetTempPath(), $"halo-model-{Guid.NewGuid():N}{extension}");
        File.WriteAllText(path, content);
        try
        {
            return extra.Contains("--from-config") ? Run([.. extra, path]) : Run([path, .. extra]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static string Example(string name)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Halo.slnx")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? throw new InvalidOperationException("repository root not found"), "examples", "models", name);
    }
}
