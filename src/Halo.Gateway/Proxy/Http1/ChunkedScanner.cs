namespace Halo.Gateway.Proxy.Http1;

/// <summary>
/// Follows a chunked body as its bytes pass through unchanged, to find where the message ends
/// (last chunk, optional trailers, blank line) so the backend connection can be reused.
/// </summary>
internal struct ChunkedScanner
{
    private State _state;
    private long _remaining;
    private int _sizeDigits;

    private enum State
    {
        Size,
        Extension,
        SizeLf,
        Data,
        DataCr,
        DataLf,
        TrailerStart,
        TrailerLine,
        TrailerLf,
        FinalLf,
        Done,
    }

    public readonly bool IsDone => _state == State.Done;

    public void Reset()
    {
        _state = State.Size;
        _remaining = 0;
        _sizeDigits = 0;
    }

    /// <summary>
    /// Consumes bytes; returns how many belong to the body (less than <paramref name="data"/>'s length only
    /// when the body ended inside it), or -1 when the framing is malformed.
    /// </summary>
    public int Scan(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length)
        {
            switch (_state)
            {
                case State.Data:
                    var take = (int)Math.Min(_remaining, data.Length - i);
                    i += take;
                    _remaining -= take;
                    if (_remaining == 0)
                    {
                        _state = State.DataCr;
                    }

                    continue;
                case State.Done:
                    return i;
            }

            var b = data[i++];
            switch (_state)
            {
                case State.Size:
                    var digit = HexValue(b);
                    if (digit >= 0)
                    {
                        if (++_sizeDigits > 15)
                        {
                            return -1;
                        }

                        _remaining = (_remaining << 4) | (uint)digit;
                    }
                    else if (_sizeDigits > 0 && (b == ';' || b == ' ' || b == '\t'))
                    {
                        _state = State.Extension;
                    }
                    else if (_sizeDigits > 0 && b == '\r')
                    {
                        _state = State.SizeLf;
                    }
                    else
                    {
                        return -1;
                    }

                    break;
                case State.Extension:
                    if (b == '\r')
                    {
                        _state = State.SizeLf;
                    }
                    else if (b == '\n')
                    {
                        return -1;
                    }

                    break;
                case State.SizeLf:
                    if (b != '\n')
                    {
                        return -1;
                    }

                    _sizeDigits = 0;
                    _state = _remaining == 0 ? State.TrailerStart : State.Data;
                    break;
                case State.DataCr:
                    if (b != '\r')
                    {
                        return -1;
                    }

                    _state = State.DataLf;
                    break;
                case State.DataLf:
                    if (b != '\n')
                    {
                        return -1;
                    }

                    _state = State.Size;
                    break;
                case State.TrailerStart:
                    if (b == '\n')
                    {
                        return -1;
                    }

                    _state = b == '\r' ? State.FinalLf : State.TrailerLine;
                    break;
                case State.TrailerLine:
                    if (b == '\r')
                    {
                        _state = State.TrailerLf;
                    }

                    break;
                case State.TrailerLf:
                    if (b != '\n')
                    {
                        return -1;
                    }

                    _state = State.TrailerStart;
                    break;
                case State.FinalLf:
                    if (b != '\n')
                    {
                        return -1;
                    }

                    _state = State.Done;
                    return i;
            }
        }

        return i;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
