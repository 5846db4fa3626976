'use strict';

/**
 * Lets serverless.yml carry Serverless v4's `build: { esbuild: false }`. v4 needs it to hand the
 * bundling to the serverless-esbuild plugin; osls, whose schema has no `build`, would otherwise
 * reject the file. Under v4 the key is already known and this plugin does nothing.
 */
class ServerlessBuildKey {
  constructor(serverless) {
    const handler = serverless.configSchemaHandler;
    if (handler && !handler.schema.properties.build) {
      handler.defineTopLevelProperty('build', {
        type: 'object',
        properties: { esbuild: { const: false } },
        additionalProperties: false,
      });
    }
  }
}

module.exports = ServerlessBuildKey;
