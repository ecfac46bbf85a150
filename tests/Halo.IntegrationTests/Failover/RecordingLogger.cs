using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Halo.IntegrationTests.Failover;

/// <summary>Keeps every log line with a timestamp, so a failing run can show what each agent did and when.</summary>
public sealed class RecordingLogger(string name, ConcurrentQueue<string> lines) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        lines.Enqueue($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {name} [{eventId.Id}] {formatter(state, exception)}{Cause(exception)}");

    // The exception's type and message on the same line ("database command failed" alone does not say whether it timed out).
    private static string Cause(Exception? exception) =>
        exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message.ReplaceLineEndings(" ")}{(exception.InnerException is { } inner ? $" <- {inner.GetType().Name}: {inner.Message.ReplaceLineEndings(" ")}" : "")})";
}
