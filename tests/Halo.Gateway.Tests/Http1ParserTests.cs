using System.Text;
using Halo.Gateway.Proxy.Http1;

namespace Halo.Gateway.Tests;

public class Http1ParserTests
{
    private static byte[] B(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void Request_CommonGet_CompleteWithFields()
    {
        var head = new RequestHead();
        var data = B("GET /api/x?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\nNEXT");

        Assert.Equal(HeadStatus.Complete, head.Parse(data));
        Assert.Equal(data.Length - 4, head.Length);
        Assert.Equal("GET", Encoding.ASCII.GetString(data, 0, head.MethodLength));
        Assert.Equal("/api/x?q=1", Encoding.ASCII.GetString(data, head.TargetStart, head.TargetLength));
        Assert.Equal(6, head.PathLength);
        Assert.Equal("example.com:8080", Encoding.ASCII.GetString(data, head.HostStart, head.HostLength));
        Assert.Equal(0, head.ContentLength);
        Assert.False(head.Close);
        Assert.False(head.AnySkipped);
    }

    [Fact]
    public void Request_HopByHopHeaders_MarkedSkippedAndCloseRead()
    {
        var head = new RequestHead();
        var data = B("POST /p HTTP/1.1\r\nHost: h\r\nConnection: close\r\nKeep-Alive: 5\r\nTE: trailers\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc");

        Assert.Equal(HeadStatus.Complete, head.Parse(data));
        Assert.True(head.Close);
        Assert.Equal(3, head.ContentLength);
        Assert.True(head.AnySkipped);
        var skipped = head.Headers.ToArray().Where(h => h.Skip).Select(h => Encoding.ASCII.GetString(data, h.LineStart, h.NameLength)).ToArray();
        Assert.Equal(["Connection", "Keep-Alive", "TE"], skipped);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHo")]
    [InlineData("GET / HT")]
    [InlineData("G")]
    public void Request_Partial_Incomplete(string text) =>
        Assert.Equal(HeadStatus.Incomplete, new RequestHead().Parse(B(text)));

    [Theory]
    [InlineData("GET / HTTP/1.0\r\nHost: h\r\n\r\n")]                              // HTTP/1.0
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")]                                // HTTP/2 prior knowledge
    [InlineData("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n")]                       // absolute form
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n")]
    [InlineData("get / HTTP/1.1\r\nHost: h\r\n\r\n")]                               // lower-case method
    [InlineData("GET / HTTP/1.1\r\n\r\n")]                                          // no Host
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")]                    // two Hosts
    [InlineData("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")]                             // odd Host
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n")]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n")]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n")]
    [InlineData("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Foo\r\n\r\n")]  // Connection naming a header
    [InlineData("GET /a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n")]                          // percent-encoded path
    [InlineData("GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n")]                         // dot segments
    [InlineData("GET /a//b HTTP/1.1\r\nHost: h\r\n\r\n")]
    [InlineData("GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\nHost: h\n\n")]                                     // bare LF
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n")]            // obs-fold
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: caf\u00e9\r\n\r\n")]              // non-ASCII value
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\u0001b\r\n\r\n")]                // control byte
    public void Request_Unusual_HandedToKestrel(string text) =>
        Assert.Equal(HeadStatus.HandOff, new RequestHead().Parse(Encoding.Latin1.GetBytes(text)));

    [Fact]
    public void Request_LargerThanLimit_HandedToKestrel()
    {
        var text = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + new string('a', RequestHead.MaxHeadBytes) + "\r\n\r\n";
        Assert.Equal(HeadStatus.HandOff, new RequestHead().Parse(B(text)));
    }

    [Fact]
    public void Response_ContentLength_FramedByLength()
    {
        var r = new ResponseHead();
        var data = B("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX: y\r\n\r\nhello");

        Assert.True(r.TryParse(data, headRequest: false, out _));
        Assert.Equal(200, r.Status);
        Assert.Equal(BodyFraming.Length, r.Framing);
        Assert.Equal(5, r.ContentLength);
        Assert.False(r.Close);
        Assert.True(r.AnySkipped);
        Assert.Equal(data.Length - 5, r.Length);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, BodyFraming.Chunked, false)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n", false, BodyFraming.Chunked, false)]
    [InlineData("HTTP/1.1 200 OK\r\n\r\n", false, BodyFraming.UntilClose, true)]
    [InlineData("HTTP/1.1 204 No Content\r\n\r\n", false, BodyFraming.None, false)]
    [InlineData("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, BodyFraming.None, false)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, BodyFraming.None, false)]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", false, BodyFraming.Length, true)]
    [InlineData("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n", false, BodyFraming.Length, false)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", false, BodyFraming.Length, true)]
    [InlineData("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, BodyFraming.None, false)]
    internal void Response_Framing(string text, bool head, BodyFraming framing, bool close)
    {
        var r = new ResponseHead();
        Assert.True(r.TryParse(B(text), head, out _));
        Assert.Equal(framing, r.Framing);
        Assert.Equal(close, r.Close);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n")]
    [InlineData("HTTP/2 200\r\n\r\n")]
    [InlineData("garbage\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\nContent-Length: 1\n\n")]
    public void Response_Malformed_Rejected(string text)
    {
        Assert.False(new ResponseHead().TryParse(B(text), false, out var incomplete));
        Assert.False(incomplete);
    }

    [Fact]
    public void Response_Partial_Incomplete()
    {
        Assert.False(new ResponseHead().TryParse(B("HTTP/1.1 200 OK\r\nContent-Le"), false, out var incomplete));
        Assert.True(incomplete);
    }

    [Fact]
    public void Chunked_SplitAtEveryByte_FindsTheEnd()
    {
        var body = B("5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n");
        for (var cut = 0; cut <= body.Length; cut++)
        {
            var s = default(ChunkedScanner);
            s.Reset();
            var a = s.Scan(body.AsSpan(0, cut));
            Assert.Equal(cut, a);
            Assert.Equal(cut == body.Length, s.IsDone);
            if (!s.IsDone)
            {
                Assert.Equal(body.Length - cut, s.Scan(body.AsSpan(cut)));
                Assert.True(s.IsDone);
            }
        }
    }

    [Fact]
    public void Chunked_BytesAfterTheEnd_NotConsumed()
    {
        var s = default(ChunkedScanner);
        s.Reset();
        var data = B("0\r\n\r\nEXTRA");
        Assert.Equal(5, s.Scan(data));
        Assert.True(s.IsDone);
    }

    [Theory]
    [InlineData("Z\r\n")]
    [InlineData("5\r\nhelloX\r\n")]
    [InlineData("\r\n")]
    [InlineData("1234567890123456\r\n")]
    public void Chunked_Malformed_Rejected(string text)
    {
        var s = default(ChunkedScanner);
        s.Reset();
        Assert.Equal(-1, s.Scan(B(text)));
    }
}
