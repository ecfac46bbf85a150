namespace Halo.Store.Tests;

public sealed class KeyRangeTests
{
    [Theory]
    [InlineData(new byte[] { 0x61 }, new byte[] { 0x62 })]
    [InlineData(new byte[] { 0x61, 0xff }, new byte[] { 0x62 })]
    [InlineData(new byte[] { 0x61, 0xfe }, new byte[] { 0x61, 0xff })]
    public void PrefixEnd_Prefix_IsSmallestKeyAfterEveryKeyUnderIt(byte[] prefix, byte[] expected) =>
        Assert.Equal(expected, KeyRange.PrefixEnd(prefix));

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0xff, 0xff })]
    public void PrefixEnd_NoUpperBound_ReturnsNull(byte[] prefix) => Assert.Null(KeyRange.PrefixEnd(prefix));
}
