using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using EdgeMask.Training.Tests.Detection;

namespace EdgeMask.Training.Tests;

/// <summary>
/// Holds both trainers to the rule that ended the "Unknown scalar type" / <c>toFloat … Scalar.h</c> crashes: no
/// TorchSharp <c>Scalar</c> (or <c>Tensor</c>) made by an implicit conversion. Such a temporary is referenced by
/// nothing once TorchSharp has read its native handle, so a garbage collection during the native call may run its
/// finalizer and free the libtorch scalar libtorch is reading. The training sources are compiled with Roslyn and every
/// implicit user-defined conversion to those types, and every TorchSharp operator called with a plain number (which
/// converts it inside TorchSharp the same way), is reported with its file and line.
/// </summary>
public sealed class TorchScalarLifetimeTests
{
    private static readonly string TrainingFolder = Path.Combine(SharedFiles.RepoRoot, "modules", "EdgeMask.Training");

    [Fact]
    public void TrainingSources_CompileWithoutErrors_SoTheScanSeesEveryCall()
    {
        var compilation = CompileTrainingSources();

        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Take(10).ToList();

        Assert.True(errors.Count == 0, "The scan's compilation has errors, so its findings would be incomplete:\n" + string.Join("\n", errors));
        Assert.True(compilation.SyntaxTrees.Count() > 20, "Too few training sources found under " + TrainingFolder);
    }

    [Fact]
    public void TrainingSources_HaveNoImplicitTorchScalarsOrTensors()
    {
        var findings = ImplicitTorchTemporaries(CompileTrainingSources());

        Assert.True(findings.Count == 0,
            "Implicit TorchSharp temporaries (make an owned scalar: `using var s = 0f.ToScalar();`, or use a tensor operand):\n" +
            string.Join("\n", findings));
    }

    [Fact]
    public void Scan_SourceWithEveryKindOfImplicitTemporary_FindsEachOne()
    {
        // The scanner itself must see the patterns it guards against, or the test above proves nothing.
        const string source = """
            using TorchSharp;
            using static TorchSharp.torch;
            static class Probe
            {
                static void M(Tensor t, Tensor mask)
                {
                    var a = t.masked_fill(mask, float.NegativeInfinity); // implicit float → Scalar argument
                    var b = t * 2f;                                     // operator with a number operand
                    var c = 0.5 * t;                                    // the same on the left
                    var d = t.clamp(0f, 1f);                            // two implicit Scalars
                    Tensor e = 3f;                                      // implicit float → Tensor
                    using var owned = 2f.ToScalar();
                    var f = t.mul(owned);                               // fine: owned and disposed
                    var g = t + t;                                      // fine: tensors only
                    var h = nn.functional.leaky_relu(t, 0.1);           // the number becomes a Scalar inside TorchSharp
                }
                static void Main() { }
            }
            """;
        var compilation = Compile([CSharpSyntaxTree.ParseText(source, ParseOptions, "Probe.cs")]);
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));

        var findings = ImplicitTorchTemporaries(compilation);

        Assert.Equal(7, findings.Count);
        Assert.Contains(findings, f => f.Contains("Probe.cs:7", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.Contains("Probe.cs:8", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.Contains("Probe.cs:9", StringComparison.Ordinal));
        Assert.Equal(2, findings.Count(f => f.Contains("Probe.cs:10", StringComparison.Ordinal)));
        Assert.Contains(findings, f => f.Contains("Probe.cs:11", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.Contains("Probe.cs:15", StringComparison.Ordinal));
    }

    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Preview);

    /// <summary>What <c>ImplicitUsings</c> gives a console project; the scan compiles the sources without MSBuild.</summary>
    private const string GlobalUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    private static CSharpCompilation CompileTrainingSources()
    {
        var files = Directory.EnumerateFiles(TrainingFolder, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}build{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), ParseOptions, Path.GetRelativePath(SharedFiles.RepoRoot, f)))
            .Append(CSharpSyntaxTree.ParseText(GlobalUsings, ParseOptions, "GlobalUsings.g.cs"));
        return Compile(trees);
    }

    private static CSharpCompilation Compile(IEnumerable<SyntaxTree> trees)
    {
        // The runtime's assemblies and everything in this test's output folder (TorchSharp, OpenCvSharp, the other
        // EdgeMask projects) except the training assembly, whose sources are the ones being compiled.
        var platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var local = Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll")
            .Where(f => Path.GetFileName(f) is not ("edgemask-train.dll" or "EdgeMask.Training.Tests.dll"));
        var references = platform.Concat(local)
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase).Select(g => g.First())
            .Where(IsManagedAssembly)
            .Select(f => MetadataReference.CreateFromFile(f));
        return CSharpCompilation.Create("TrainingScan", trees, references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
    }

    private static bool IsManagedAssembly(string path)
    {
        try
        {
            System.Reflection.AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    /// <summary>Every implicit Scalar/Tensor temporary in the compilation, as "file:line: code".</summary>
    private static List<string> ImplicitTorchTemporaries(CSharpCompilation compilation)
    {
        var findings = new List<string>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                // `AnchorLabel.Face` converts as a whole; its name part reports the same conversion again.
                if (node is SimpleNameSyntax name && node.Parent is MemberAccessExpressionSyntax access && access.Name == name) continue;
                if (node is ExpressionSyntax expression && model.GetConversion(expression) is { IsUserDefined: true, IsImplicit: true } conversion
                    && IsTorchTemporaryType(conversion.MethodSymbol?.ReturnType))
                {
                    findings.Add(Describe(expression, $"implicit {model.GetTypeInfo(expression).Type} → {conversion.MethodSymbol!.ReturnType.Name}"));
                }
                else if (node is InvocationExpressionSyntax call && model.GetSymbolInfo(call).Symbol is IMethodSymbol method
                         && IsTorchSharp(method.ContainingType) && NumberToScalarInside.Contains(method.Name)
                         && method.Parameters.Any(p => p.Type.SpecialType is SpecialType.System_Double or SpecialType.System_Single))
                {
                    findings.Add(Describe(call, $"{method.Name} with a number, which TorchSharp converts to an unowned Scalar inside"));
                }
                else if (node is BinaryExpressionSyntax binary && model.GetSymbolInfo(binary).Symbol is IMethodSymbol { MethodKind: MethodKind.UserDefinedOperator } op
                         && IsTorchSharp(op.ContainingType) && op.Parameters.Any(p => p.Type.SpecialType != SpecialType.None))
                {
                    // TorchSharp's number overloads (Tensor * double, …) convert the number to an unowned Scalar inside.
                    findings.Add(Describe(binary, $"operator {binary.OperatorToken.Text} with a number operand"));
                }
            }
        }
        return findings;
    }

    /// <summary>
    /// TorchSharp functions whose number overloads pass the number on as an implicit Scalar in TorchSharp's own code
    /// (TorchSharp pull request #1496 lists them), so the scan cannot see the conversion at our call site. Call the
    /// Tensor method with an owned Scalar instead (<c>x.leaky_relu_(slope)</c>).
    /// </summary>
    private static readonly HashSet<string> NumberToScalarInside = new(StringComparer.Ordinal)
    {
        "leaky_relu", "leaky_relu_", "threshold", "threshold_", "softplus", "hardtanh", "hardtanh_", "elu", "elu_", "celu", "celu_",
    };

    private static bool IsTorchTemporaryType(ITypeSymbol? type) =>
        type is not null && IsTorchSharp(type) && type.Name is "Scalar" or "Tensor";

    private static bool IsTorchSharp(ITypeSymbol type) => type.ContainingAssembly?.Name == "TorchSharp";

    private static string Describe(SyntaxNode node, string what)
    {
        var line = node.GetLocation().GetLineSpan();
        return $"{line.Path}:{line.StartLinePosition.Line + 1}: {what}: {node}";
    }
}
