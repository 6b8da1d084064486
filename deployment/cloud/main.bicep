// The EdgeMask dashboard in Azure: Container Apps (replicas share IoT Hub's partitions) + Azure Database for
// PostgreSQL flexible server + the dashboard's consumer group on an existing IoT Hub + an Azure Files share for
// snapshots and the cookie-signing keys (shared by every replica). Deploy (README.md beside this file):
//   az deployment group create -g <group> -f main.bicep -p iotHubName=<hub> image=<registry>/edgemask-dashboard:<tag> \
//       postgresAdminPassword=<password> adminPasswordHash='<hash>'
// Every setting the dashboard reads is named in the container's env below (checked by DeploymentTests).

@description('Region of every resource (the IoT Hub may be elsewhere).')
param location string = resourceGroup().location

@description('Prefix of the resource names (letters and digits, at most 12).')
@maxLength(12)
param namePrefix string = 'edgemask'

@description('The dashboard image, built from modules/EdgeMask.Dashboard/Dockerfile.')
param image string

@description('Registry server of the image, when it is private (e.g. myregistry.azurecr.io); empty for a public image.')
param registryServer string = ''

@description('Registry user (for Azure Container Registry: the admin user or a token name).')
param registryUsername string = ''

@secure()
@description('Registry password.')
param registryPassword string = ''

@description('Name of the existing IoT Hub the stations send to (in this resource group).')
param iotHubName string

@description('The dashboard\'s own consumer group on the hub\'s built-in endpoint, shared by all its replicas.')
param consumerGroupName string = 'edgemask-dashboard'

@description('PostgreSQL administrator login.')
param postgresAdminLogin string = 'edgemask'

@secure()
@description('PostgreSQL administrator password.')
param postgresAdminPassword string

@secure()
@description('Sign-in password hash: edgemask-dashboard hash-password.')
param adminPasswordHash string

@secure()
@description('Optional API key hash (sha256:…) from edgemask-dashboard new-api-key.')
param apiKeyHash string = ''

@minValue(1)
param minReplicas int = 1

@maxValue(32)
param maxReplicas int = 3

var suffix = uniqueString(resourceGroup().id, namePrefix)
var databaseName = 'edgemask'
var apiKeyEnv = empty(apiKeyHash) ? [] : [
  { name: 'Dashboard__Auth__ApiKeyHashes__0', secretRef: 'api-key-hash' }
]
var apiKeySecret = empty(apiKeyHash) ? [] : [
  { name: 'api-key-hash', value: apiKeyHash }
]
var registrySecret = empty(registryServer) ? [] : [
  { name: 'registry-password', value: registryPassword }
]
var registries = empty(registryServer) ? [] : [
  { server: registryServer, username: registryUsername, passwordSecretRef: 'registry-password' }
]

resource iotHub 'Microsoft.Devices/IotHubs@2023-06-30' existing = {
  name: iotHubName
}

resource consumerGroup 'Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups@2023-06-30' = {
  name: '${iotHubName}/events/${consumerGroupName}'
  properties: {
    name: consumerGroupName
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: '${namePrefix}-pg-${suffix}'
  location: location
  sku: {
    name: 'Standard_B1ms'
    tier: 'Burstable'
  }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    storage: { storageSizeGB: 32 }
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

// Container Apps reach the server over its public endpoint; 0.0.0.0 admits Azure services only, not the internet.
resource postgresFromAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'AllowAzureServices'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('${namePrefix}st${suffix}', 24)
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
  }
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: fileService
  name: 'dashboard-data'
  properties: {
    shareQuota: 100
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${namePrefix}-env-${suffix}'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

resource environmentStorage 'Microsoft.App/managedEnvironments/storages@2024-03-01' = {
  parent: environment
  name: 'dashboard-data'
  properties: {
    azureFile: {
      accountName: storage.name
      accountKey: storage.listKeys().keys[0].value
      shareName: share.name
      accessMode: 'ReadWrite'
    }
  }
}

var serviceKey = filter(iotHub.listKeys().value, key => key.keyName == 'service')[0].primaryKey
var eventHubsConnectionString = 'Endpoint=${iotHub.properties.eventHubEndpoints.events.endpoint};SharedAccessKeyName=service;SharedAccessKey=${serviceKey};EntityPath=${iotHub.properties.eventHubEndpoints.events.path}'

resource dashboard 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${namePrefix}-dashboard'
  location: location
  dependsOn: [
    consumerGroup
    database
    postgresFromAzure
  ]
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      ingress: {
        external: true
        targetPort: 8080
        transport: 'auto'
        allowInsecure: false
      }
      secrets: concat([
        { name: 'postgres-password', value: postgresAdminPassword }
        { name: 'admin-password-hash', value: adminPasswordHash }
        { name: 'eventhubs-connection', value: eventHubsConnectionString }
      ], apiKeySecret, registrySecret)
      registries: registries
    }
    template: {
      containers: [
        {
          name: 'dashboard'
          image: image
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          env: concat([
            { name: 'Dashboard__Listen', value: 'http://0.0.0.0:8080' }
            { name: 'Dashboard__DeviceOfflineAfter', value: '00:05:00' }
            { name: 'Dashboard__Store__ConnectionString', value: 'Host=${postgres.properties.fullyQualifiedDomainName};Port=5432;Username=${postgresAdminLogin};Database=${databaseName};SSL Mode=Require' }
            { name: 'PGPASSWORD', secretRef: 'postgres-password' }
            { name: 'Dashboard__Store__SnapshotDirectory', value: '/data/snapshots' }
            { name: 'Dashboard__Store__KeysDirectory', value: '/data/keys' }
            { name: 'Dashboard__Store__MaxSnapshotBytes', value: '4194304' }
            // Stations send through IoT Hub here; MQTT ingest is for a broker of your own (see compose.yaml).
            { name: 'Dashboard__Mqtt__Enabled', value: 'false' }
            { name: 'Dashboard__Mqtt__Host', value: '127.0.0.1' }
            { name: 'Dashboard__Mqtt__Port', value: '1883' }
            { name: 'Dashboard__Mqtt__UseTls', value: 'false' }
            { name: 'Dashboard__Mqtt__ClientId', value: 'edgemask-dashboard' }
            { name: 'Dashboard__Mqtt__Username', value: '' }
            { name: 'Dashboard__Mqtt__Password', value: '' }
            { name: 'Dashboard__Mqtt__TopicRoot', value: 'edgemask' }
            { name: 'Dashboard__Mqtt__SessionExpiry', value: '01:00:00' }
            { name: 'Dashboard__Mqtt__ReconnectMinDelay', value: '00:00:01' }
            { name: 'Dashboard__Mqtt__ReconnectMaxDelay', value: '00:00:30' }
            { name: 'Dashboard__Mqtt__BatchSize', value: '500' }
            { name: 'Dashboard__EventHubs__Enabled', value: 'true' }
            { name: 'Dashboard__EventHubs__ConnectionString', secretRef: 'eventhubs-connection' }
            { name: 'Dashboard__EventHubs__EventHubName', value: iotHub.properties.eventHubEndpoints.events.path }
            { name: 'Dashboard__EventHubs__ConsumerGroup', value: consumerGroupName }
            { name: 'Dashboard__EventHubs__StartPosition', value: 'Latest' }
            // Each replica's host name is its unique, stable-for-its-life name in the ownership table.
            { name: 'Dashboard__EventHubs__ReplicaId', value: '' }
            { name: 'Dashboard__EventHubs__BatchSize', value: '100' }
            { name: 'Dashboard__EventHubs__LoadBalancingInterval', value: '00:00:10' }
            { name: 'Dashboard__EventHubs__OwnershipExpiration', value: '00:00:30' }
            { name: 'Dashboard__EventHubs__RetryMinDelay', value: '00:00:01' }
            { name: 'Dashboard__EventHubs__RetryMaxDelay', value: '00:00:30' }
            { name: 'Dashboard__Retention__MaxAge', value: '30.00:00:00' }
            { name: 'Dashboard__Retention__MaxRows', value: '1000000' }
            { name: 'Dashboard__Retention__MaxSnapshotBytes', value: '2147483648' }
            { name: 'Dashboard__Retention__Interval', value: '00:10:00' }
            { name: 'Dashboard__Auth__AdminUser', value: 'admin' }
            { name: 'Dashboard__Auth__AdminPasswordHash', secretRef: 'admin-password-hash' }
            { name: 'Dashboard__Auth__CookieSecure', value: 'Always' }
            { name: 'Dashboard__Auth__SessionLifetime', value: '08:00:00' }
            { name: 'Dashboard__Auth__SignInAttemptsPerMinute', value: '10' }
          ], apiKeyEnv)
          volumeMounts: [
            { volumeName: 'data', mountPath: '/data' }
          ]
          probes: [
            // Liveness only asks that the process serves; readiness waits for the store and the hub.
            { type: 'Liveness', httpGet: { path: '/livez', port: 8080 }, periodSeconds: 30 }
            { type: 'Readiness', httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 15, failureThreshold: 4 }
            { type: 'Startup', httpGet: { path: '/livez', port: 8080 }, periodSeconds: 5, failureThreshold: 24 }
          ]
        }
      ]
      volumes: [
        { name: 'data', storageType: 'AzureFile', storageName: environmentStorage.name }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          { name: 'http', http: { metadata: { concurrentRequests: '50' } } }
        ]
      }
    }
  }
}

@description('The dashboard\'s address: open it and sign in as admin.')
output url string = 'https://${dashboard.properties.configuration.ingress.fqdn}'
