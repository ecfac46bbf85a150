using Microsoft.AspNetCore.Http;

namespace Halo.Gateway.Proxy;

/// <summary>Buffers a request body up to a limit so a retry can send it again.</summary>
internal static class ReplayableBody
{
    /// <summary>
    /// Returns the whole body when it fits in <paramref name="limit"/> bytes. When it does not, returns
    /// null and leaves the request readable from the start (what was read is stitched back in front),
    /// so the request is forwarded once, without retries, instead of failing.
    /// </summary>
    public static async Task<byte[]?> TryBufferAsync(HttpRequest request, int limit, CancellationToken ct)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        var buffer = new MemoryStream();
        var chunk = new byte[Math.Min(16 * 1024, limit + 1)];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > limit)
            {
                buffer.Position = 0;
                request.Body = new ConcatenatedStream(buffer, request.Body);
                return null;
            }
        }

        return buffer.ToArray();
    }

    /// <summary>Reads one stream then another; used to put back the prefix read while measuring a body.</summary>
    private sealed class ConcatenatedStream(Stream first, Stream second) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            var n = await first.ReadAsync(destination, cancellationToken);
            return n > 0 ? n : await second.ReadAsync(destination, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = first.Read(buffer, offset, count);
            return n > 0 ? n : second.Read(buffer, offset, count);
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
