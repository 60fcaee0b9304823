import type express from 'express';

interface RouterLayer {
  route?: { path: unknown; methods: Record<string, boolean | undefined> };
  handle?: unknown;
  rawPath?: unknown;
}

/**
 * Every `method path` the app's routers serve, walking mounted routers (paths Express style:
 * `get /api/practices/:practiceId`). `router.all` shows as `_all`, so it cannot slip through
 * a check unnoticed. Used by the OpenAPI test and the isolation sweep to see what is mounted.
 */
export function routerRoutes(app: express.Express): string[] {
  const out: string[] = [];
  const walk = (stack: readonly RouterLayer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? (layer.route.path as unknown[]) : [layer.route.path];
        for (const method of Object.keys(layer.route.methods).filter((m) => layer.route?.methods[m] === true)) {
          for (const p of paths) out.push(`${method} ${prefix}${String(p)}`);
        }
        continue;
      }
      const inner = (layer.handle as { stack?: unknown } | undefined)?.stack;
      if (!Array.isArray(inner)) continue; // plain middleware (auth, parsers, static files)
      if (typeof layer.rawPath !== 'string') throw new Error(`a router mounted on a non-string path: ${String(layer.rawPath)}`);
      walk(inner as RouterLayer[], prefix + (layer.rawPath === '/' ? '' : layer.rawPath));
    }
  };
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack, '');
  return out;
}
