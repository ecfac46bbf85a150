namespace Halo.Store.Embedded;

/// <summary>A mutation waiting for the writer loop; its task completes only after the batch holding it is durable.</summary>
internal abstract class WriteCommand
{
    /// <summary>Runs inside the batch transaction on the writer loop.</summary>
    public abstract void Apply(StoreWriter writer);

    /// <summary>Called after the batch committed: hands the caller its result (or its own input error).</summary>
    public abstract void Complete();

    /// <summary>Called when the batch could not commit: nothing of it is on disk.</summary>
    public abstract void Fail(Exception error);
}

internal sealed class WriteCommand<T>(Func<StoreWriter, T> operation) : WriteCommand
{
    // Continuations must not run on the writer loop: a caller's code would stall every other write.
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T? _result;
    private Exception? _error;

    public Task<T> Task => _completion.Task;

    public override void Apply(StoreWriter writer)
    {
        try
        {
            _result = operation(writer);
        }
        catch (Exception error) when (error is ArgumentException or LeaseNotFoundException)
        {
            // Operations validate before they write, so an input error leaves nothing behind
            // and fails only this command, not the batch it shares with others.
            _error = error;
        }
    }

    public override void Complete()
    {
        if (_error is null)
        {
            _completion.TrySetResult(_result!);
        }
        else
        {
            _completion.TrySetException(_error);
        }
    }

    public override void Fail(Exception error) => _completion.TrySetException(error);
}
