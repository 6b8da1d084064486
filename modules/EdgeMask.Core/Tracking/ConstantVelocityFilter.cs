namespace EdgeMask.Core.Tracking;

/// <summary>
/// Constant-velocity Kalman filter of one box coordinate (position and velocity per frame index).
/// </summary>
/// <remarks>
/// Why a Kalman filter and not a fixed-gain alpha-beta predictor: a new track has no velocity yet, and the Kalman
/// gain starts high (trust the detections, learn the velocity fast) and settles as the estimate firms up, while an
/// alpha-beta predictor needs hand-tuned gains that are either sluggish at birth or jittery later. Why four scalar
/// filters instead of SORT/ByteTrack's 8-dimensional one: with F, H, Q and R block-diagonal per coordinate (as in
/// those trackers) the 8-D filter decouples exactly into four 2-state filters, which need no matrices, no
/// allocation and a handful of multiplications. Noise is scaled by the box height, as in ByteTrack, so a large
/// face may move more pixels per frame than a small one.
/// </remarks>
internal struct ConstantVelocityFilter
{
    // Standard deviations relative to the box height, ByteTrack's values (1/20 and 1/160).
    private const float PositionNoise = 1f / 20f;
    private const float VelocityNoise = 1f / 160f;

    public float Position;
    public float Velocity;
    // Covariance [[P00, P01], [P01, P11]].
    private float _p00, _p01, _p11;

    public void Initialize(float position, float scale)
    {
        Position = position;
        Velocity = 0f;
        // A new track: position known to about a detection's accuracy, velocity unknown (wide prior).
        float sp = 2f * PositionNoise * scale, sv = 10f * VelocityNoise * scale;
        _p00 = sp * sp;
        _p01 = 0f;
        _p11 = sv * sv;
    }

    /// <summary>Advances by <paramref name="frames"/> frame indices (≥ 1), one step at a time so noise accrues per frame.</summary>
    public void Predict(int frames, float scale, bool useVelocity)
    {
        float qp = PositionNoise * scale, qv = VelocityNoise * scale;
        qp *= qp;
        qv *= qv;
        for (int i = 0; i < frames; i++)
        {
            if (useVelocity)
            {
                Position += Velocity;
                // P = F P Fᵀ with F = [[1, 1], [0, 1]].
                _p00 += 2f * _p01 + _p11;
                _p01 += _p11;
            }
            _p00 += qp;
            _p11 += qv;
        }
    }

    /// <summary>Squared innovation over its variance: how many standard deviations (squared) a measurement is off.</summary>
    public readonly float NormalizedInnovationSquared(float measurement, float scale)
    {
        float r = PositionNoise * scale;
        float s = _p00 + r * r;
        float d = measurement - Position;
        return s > 0f ? d * d / s : float.PositiveInfinity;
    }

    public void Update(float measurement, float scale)
    {
        float r = PositionNoise * scale;
        float s = _p00 + r * r;
        if (s <= 0f || !float.IsFinite(s)) return;
        float k0 = _p00 / s, k1 = _p01 / s;
        float innovation = measurement - Position;
        Position += k0 * innovation;
        Velocity += k1 * innovation;
        float p00 = _p00, p01 = _p01;
        _p00 = (1f - k0) * p00;
        _p01 = (1f - k0) * p01;
        _p11 -= k1 * p01;
    }
}
