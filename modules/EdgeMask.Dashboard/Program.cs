using EdgeMask.Dashboard;
using EdgeMask.Dashboard.Options;

return await DashboardCli.RunAsync(args, Console.In, Console.Out, Console.Error);
