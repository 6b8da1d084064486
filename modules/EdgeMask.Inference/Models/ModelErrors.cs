namespace EdgeMask.Inference.Models;

/// <summary>Base of every "this model cannot be used" error; the message names the file and the fix.</summary>
public abstract class ModelException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The manifest itself is unreadable or incomplete.</summary>
public sealed class ModelManifestException(string message, Exception? inner = null) : ModelException(message, inner);

/// <summary>A model file is not where the manifest and the models folder say it should be.</summary>
public sealed class ModelNotFoundException(string path, string installHint)
    : ModelException($"Model file {path} is missing. Install the models with: {installHint}")
{
    public string Path { get; } = path;
}

/// <summary>A model file is there but its bytes are not the ones the manifest pins (altered, truncated, another version).</summary>
public sealed class ModelChecksumException(string path, string expected, string actual, string installHint)
    : ModelException($"Model file {path} has sha256 {actual}, but models/manifest.json expects {expected}: the file is altered, truncated or another version. Reinstall it with: {installHint}")
{
    public string Path { get; } = path;
}

/// <summary>ONNX Runtime refused to load a model file (not ONNX, truncated, wrong opset).</summary>
public sealed class ModelLoadException(string path, string reason, Exception? inner = null)
    : ModelException($"ONNX Runtime could not load model {path}: {reason}", inner)
{
    public string Path { get; } = path;
}

/// <summary>A model loads but its inputs/outputs are not the contract the manifest describes.</summary>
public sealed class ModelContractException(string path, string reason)
    : ModelException($"Model {path} does not match its contract in models/manifest.json: {reason}")
{
    public string Path { get; } = path;
}
