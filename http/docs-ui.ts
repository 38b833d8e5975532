// The docs page: the routes of its document, and Swagger UI's settings. Its plugins are functions that
// @fastify/swagger-ui writes into the page's script as their source text:
// they run in the browser, never here (test/docs-browser.test.ts drives them).

/** What of Swagger UI's system the plugins below use. */
interface SwaggerSystem {
  specSelectors: { url: () => string }
  specActions: { updateSpec: (spec: string) => void }
}
type AuthorizePayload = Record<string, { value?: unknown } | undefined> | undefined
declare const SwaggerUIBundle: { plugins: { DownloadUrl: (system: SwaggerSystem) => SwaggerPlugin } }
/** What a Swagger UI plugin gives the page (a loose form of @fastify/swagger-ui's SwaggerUIPlugin). */
interface SwaggerPlugin { statePlugins?: Record<string, { wrapActions?: Record<string, unknown> }> }

/* c8 ignore start */
/** The bundle's own plugin that downloads the document, which a `plugins` setting replaces. */
function downloadUrl (system: SwaggerSystem): SwaggerPlugin {
  return SwaggerUIBundle.plugins.DownloadUrl(system)
}

/**
 * The document names the models (and shows their own operations) only to a
 * token with the predict scope: on Authorize the page fetches it again with
 * that token, and on Logout again without.
 */
function modelsOnAuthorize (system: SwaggerSystem): SwaggerPlugin {
  const reload = (token?: unknown): void => {
    fetch(system.specSelectors.url(), { headers: typeof token === 'string' ? { authorization: `Bearer ${token}` } : {} })
      .then(async res => { if (res.ok) system.specActions.updateSpec(await res.text()) })
      .catch(() => {})
  }
  type Action<T> = (argument: T) => unknown
  return {
    statePlugins: {
      auth: {
        wrapActions: {
          authorize: (authorize: Action<AuthorizePayload>) => (payload: AuthorizePayload) => {
            const result = authorize(payload)
            reload(payload?.bearer?.value)
            return result
          },
          logout: (logout: Action<unknown>) => (names: unknown) => {
            const result = logout(names)
            reload()
            return result
          }
        }
      }
    }
  }
}
/* c8 ignore stop */

/** The routes of the OpenAPI document itself, beside the page's static files. */
export const DOCS_DOCUMENT_ROUTES: ReadonlySet<string> = new Set(['/docs/json', '/docs/yaml'])

export const docsUiConfig = { plugins: [downloadUrl, modelsOnAuthorize] }
