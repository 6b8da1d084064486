namespace EdgeMask.Training; internal static class AssemblyMarker {}
