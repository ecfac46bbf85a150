using System.Threading.Tasks.Sources;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// One pending receive, send or connect of a <see cref="LoopSocket"/>, reused for every operation of its kind. Completed on
/// the loop's thread, which then runs the awaiting continuation inline (no thread-pool hop).
/// </summary>
internal sealed class SocketOperation : IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = false };

    public ValueTask<int> Start()
    {
        _core.Reset();
        return new ValueTask<int>(this, _core.Version);
    }

    public void Complete(int result) => _core.SetResult(result);

    public void Fail(Exception error) => _core.SetException(error);

    public int GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
