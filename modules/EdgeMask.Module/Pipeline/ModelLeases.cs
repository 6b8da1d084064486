namespace EdgeMask.Module.Pipeline;

/// <summary>
/// A model generation with a reference count: the source holds one reference while the generation is current, each
/// lease one more. The sessions are disposed when the last reference goes — never while a camera thread can still
/// run them (disposing a session under a running <c>Run</c> is how ONNX Runtime ends in "GetElementType is not
/// implemented").
/// </summary>
public sealed class CountedModelSet
{
    private readonly IModelSet _models;
    private readonly IDisposable _owner;
    private int _references = 1;

    /// <param name="models">The generation.</param>
    /// <param name="owner">What to dispose when the last reference goes (usually <paramref name="models"/> itself).</param>
    public CountedModelSet(IModelSet models, IDisposable owner)
    {
        _models = models;
        _owner = owner;
    }

    public IModelSet Models => _models;

    /// <summary>References held: 1 for the source while current, plus one per lease.</summary>
    public int References => Volatile.Read(ref _references);

    /// <summary>True once the sessions are closed.</summary>
    public bool IsDisposed => Volatile.Read(ref _references) == 0;

    /// <summary>A new lease, or null when the generation is already closed.</summary>
    public IModelLease? TryLease()
    {
        while (true)
        {
            int refs = Volatile.Read(ref _references);
            if (refs == 0) return null;
            if (Interlocked.CompareExchange(ref _references, refs + 1, refs) == refs) return new Lease(this);
        }
    }

    /// <summary>Drops one reference (the source's when the generation is retired); disposes at zero.</summary>
    public void Release()
    {
        int refs = Interlocked.Decrement(ref _references);
        if (refs == 0) _owner.Dispose();
        else if (refs < 0) throw new InvalidOperationException("A model generation was released more often than referenced.");
    }

    private sealed class Lease(CountedModelSet owner) : IModelLease
    {
        private int _released;

        public IModelSet Models => owner._models;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release();
        }
    }
}

/// <summary>
/// A model source that never changes generation, over sessions the caller owns (benchmarks, tests, one-shot tools):
/// leases do not dispose anything.
/// </summary>
public sealed class FixedModelSource(IModelSet models) : IModelSource
{
    public long Generation => models.Generation;

    public IModelLease Acquire() => new Lease(models);

    private sealed class Lease(IModelSet models) : IModelLease
    {
        public IModelSet Models => models;
        public void Dispose() { }
    }
}
