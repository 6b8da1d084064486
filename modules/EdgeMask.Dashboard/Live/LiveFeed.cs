using System.Threading.Channels;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Live;

/// <summary>
/// Fans newly stored events out to the connected live pages. Each subscriber has a small bounded queue that drops
/// its oldest item: a slow browser loses old lines of the feed rather than slowing ingest.
/// </summary>
public sealed class LiveFeed
{
    private readonly Lock _gate = new();
    private readonly List<Channel<StoredEvent>> _subscribers = [];

    public int SubscriberCount
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count;
            }
        }
    }

    public Subscription Subscribe()
    {
        var channel = Channel.CreateBounded<StoredEvent>(new BoundedChannelOptions(256)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_gate)
        {
            _subscribers.Add(channel);
        }
        return new Subscription(this, channel);
    }

    public void Publish(StoredEvent item)
    {
        lock (_gate)
        {
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryWrite(item);
            }
        }
    }

    private void Remove(Channel<StoredEvent> channel)
    {
        lock (_gate)
        {
            _subscribers.Remove(channel);
        }
        channel.Writer.TryComplete();
    }

    public sealed class Subscription(LiveFeed feed, Channel<StoredEvent> channel) : IDisposable
    {
        public ChannelReader<StoredEvent> Reader => channel.Reader;

        public void Dispose() => feed.Remove(channel);
    }
}
