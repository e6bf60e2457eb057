/**
 * One plugin as the composition root (ca-server/plugin-catalog.ts) wires it: the `type` an operator names in
 * config, a reader that validates that plugin's own settings, and a factory. Plugins implement this and the
 * contracts beside it in plugins/api; they never import the CA server.
 */
export interface PluginDefinition<Settings, Context, Instance> {
  readonly type: string;
  /** Validates the plugin's settings found under config key `key`; throws a ConfigError naming the bad key. */
  readSettings(key: string, raw: Record<string, unknown>): Settings;
  /** Builds (does not start) the plugin from its settings and what the CA server hands every plugin of its kind. */
  create(settings: Settings, context: Context): Instance;
}
