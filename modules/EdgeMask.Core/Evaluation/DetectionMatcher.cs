using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Evaluation;

/// <summary>
/// Matches detections to ground-truth boxes greedily: detections in descending score order each take the unmatched
/// ground-truth box with the highest IoU at or above the threshold (the PASCAL VOC rule). Unmatched detections are
/// false detections; unmatched ground truths are misses.
/// </summary>
public static class DetectionMatcher
{
    /// <param name="truths">Ground-truth boxes.</param>
    /// <param name="detections">Detected boxes, sorted by descending score.</param>
    /// <param name="matchOfTruth">Filled: for each truth, the index of its detection or -1.</param>
    /// <param name="matchOfDetection">Filled: for each detection, the index of its truth or -1.</param>
    public static void Match(ReadOnlySpan<BoxF> truths, ReadOnlySpan<BoxF> detections, float iouThreshold,
        Span<int> matchOfTruth, Span<int> matchOfDetection)
    {
        matchOfTruth.Fill(-1);
        matchOfDetection.Fill(-1);
        for (int d = 0; d < detections.Length; d++)
        {
            int best = -1;
            float bestIoU = iouThreshold;
            for (int t = 0; t < truths.Length; t++)
            {
                if (matchOfTruth[t] >= 0) continue;
                float iou = detections[d].IoU(truths[t]);
                if (iou >= bestIoU) { bestIoU = iou; best = t; }
            }
            if (best >= 0)
            {
                matchOfTruth[best] = d;
                matchOfDetection[d] = best;
            }
        }
    }
}
