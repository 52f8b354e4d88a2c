/**
 * The routes of `pibake serve`: pages are GETs that read the site afresh; actions are POSTs (CSRF
 * checked) behind a confirmation page; a running build is followed over server-sent events (bounded:
 * src/web/sse.ts). Every recipe name and build id a request carries is checked by its pattern and
 * must be one the site lists (listedRecord, listedBuild) before it names anything on disk.
 */
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { PibakeError } from '../errors.ts'
import { readSite } from '../site/store.ts'
import { listedBuild, listedRecord, planMove, rollbackRecipe, startBuild, startMove, type SiteContext } from './actions.ts'
import { buildsBody } from './builds-view.ts'
import { buildChanges } from './changes.ts'
import { fleetsBody } from './fleets-view.ts'
import { buildsData, fleetsData, logsDir, newPis } from './gather.ts'
import { accessGuard, csrfGuard, type Listen } from './guard.ts'
import type { Html } from './html.ts'
import { page } from './layout.ts'
import { changesBody, confirmBuild, confirmMove, confirmRollback, errorBody, jobBody, jobsBody, jobView, newPisBody, rollbackDone } from './pages.ts'
import { followRun } from './follow.ts'
import { buildRoot } from '../site/paths.ts'
import { buildId } from '../site/names.ts'
import { EventStreams, type StreamLimits } from './sse.ts'
import { SBOM_FORMATS, SBOM_MEDIA_TYPE, SBOM_SUFFIX, isSbomFormat } from '../sbom/files.ts'
import { recipeSbom } from '../sbom/read.ts'
import { trustedRecipeFile } from './recipe-file.ts'
import { treePaths } from '../site/record.ts'
import { join } from 'node:path'

export interface AppOptions {
  readonly listen: Listen
  /** Required, on every address (src/web/guard.ts says why). */
  readonly token?: string | undefined
  readonly csrf: string
  /** The bounds of the server-sent event streams (default STREAM_LIMITS). */
  readonly streams?: StreamLimits
}

export function createApp(ctx: SiteContext, options: AppOptions): Hono {
  const app = new Hono()
  const { csrf } = options
  const streams = new EventStreams(options.streams)
  const named = (c: Context) => listedRecord(ctx.site, c.req.param('recipe'), 'the URL')
  app.use('*', accessGuard(options.listen, options.token))
  // The page's forms send a few short fields; nothing larger is read.
  app.use('*', bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.text('refused: request body too large', 413) }))
  app.use('*', csrfGuard(csrf))
  app.use('*', async (c, next) => {
    await next()
    c.header('X-Frame-Options', 'DENY')
    c.header('Referrer-Policy', 'same-origin')
  })
  const show = async (c: Context, title: string, body: Html, status: 200 | 400 = 200) => {
    const recipes = (await readSite(ctx.site)).map((r) => r.recipe)
    return c.html(page(title, { recipes, site: ctx.site.files.describe(ctx.site.config) }, body).text, status)
  }
  app.onError(async (error, c) => {
    if (!(error instanceof PibakeError)) throw error
    return show(c, 'not done', errorBody(error.message, error.hint), 400)
  })

  app.get('/', async (c) => show(c, 'fleets', fleetsBody(await fleetsData(ctx))))
  app.get('/new', async (c) => show(c, 'new Pis', newPisBody(await newPis(ctx))))
  app.get('/jobs', async (c) => show(c, 'actions', jobsBody(ctx.jobs.list())))
  app.get('/recipes/:recipe', async (c) => {
    const data = await buildsData(ctx, (await named(c)).recipe, 3000)
    return show(c, data.recipe.recipe, buildsBody(data, { report: false, csrf }))
  })
  app.get('/recipes/:recipe/builds/:id/changes', async (c) => {
    const record = await named(c)
    const id = listedBuild(record, c.req.param('id'), 'the URL')
    const builds = [...record.builds].sort((a, b) => a.created.localeCompare(b.created))
    const index = builds.findIndex((b) => b.id === id)
    if (index < 1 || record.where.nfs.kind !== 'local') throw new PibakeError(`build ${id} of ${record.recipe} has no earlier build here to compare with`)
    // The record is data on disk: its ids become paths only in the form a build id has.
    const before = buildId(builds[index - 1]!.id, `the site record of ${record.recipe}`)
    const dir = join(buildRoot(treePaths(record), record.recipe, id), '..')
    return show(c, `changes of ${id}`, changesBody(record.recipe, id, await buildChanges(dir, before, id)))
  })
  app.get('/recipes/:recipe/builds/:id/sbom/:format', async (c) => {
    const record = await named(c)
    const id = listedBuild(record, c.req.param('id'), 'the URL')
    const format = c.req.param('format')
    if (!isSbomFormat(format)) throw new PibakeError(`no SBOM format ${JSON.stringify(format.slice(0, 40))}`, `one of: ${SBOM_FORMATS.join(', ')}`)
    const { text } = await recipeSbom(ctx.site, record.recipe, format, id)
    return c.body(text, 200, { 'Content-Type': SBOM_MEDIA_TYPE[format], 'Content-Disposition': `inline; filename="${record.recipe}-${id}${SBOM_SUFFIX[format]}"` })
  })
  app.get('/recipes/:recipe/live/events', async (c) => {
    const record = await named(c)
    return streams.stream(c, 'file', (out) => followRun(out, logsDir(ctx.outDir), record.recipe))
  })

  app.get('/move', async (c) => show(c, 'move', confirmMove(await planMove(ctx.site, c.req.query('mac') ?? '', c.req.query('to') ?? ''), csrf)))
  app.post('/move', async (c) => {
    const form = await c.req.parseBody()
    const job = await startMove(ctx, String(form.mac ?? ''), String(form.to ?? ''))
    return c.redirect(`/jobs/${job.id}`, 303)
  })
  app.get('/recipes/:recipe/rollback', async (c) => {
    const record = await named(c)
    const to = listedBuild(record, c.req.query('to'), 'the URL')
    return show(c, 'roll back', confirmRollback(record.recipe, record.live, to, csrf))
  })
  app.post('/recipes/:recipe/rollback', async (c) => {
    const form = await c.req.parseBody()
    return show(c, 'rolled back', rollbackDone(await rollbackRecipe(ctx, c.req.param('recipe'), form.to)))
  })
  app.get('/recipes/:recipe/build', async (c) => {
    const record = await named(c)
    return show(c, 'build', confirmBuild(record.recipe, await trustedRecipeFile(record), ctx.outDir, csrf))
  })
  app.post('/recipes/:recipe/build', async (c) => {
    const job = await startBuild(ctx, c.req.param('recipe'))
    return c.redirect(`/jobs/${job.id}`, 303)
  })

  app.get('/jobs/:id', async (c) => {
    const job = ctx.jobs.get(c.req.param('id'))
    if (!job) throw new PibakeError(`no action ${c.req.param('id')} (the server keeps the last 50 since it started)`)
    return show(c, job.title, jobBody(job))
  })
  app.get('/jobs/:id/events', (c) => {
    const job = ctx.jobs.get(c.req.param('id'))
    if (!job) return c.text('no such action', 404)
    return streams.stream(c, 'job', async (out) => {
      let dirty = true
      // Events come as the build prints them; push() queues them (bounded) for this client.
      const listener = (event: unknown) => {
        dirty = true
        if (event) out.push({ data: JSON.stringify(event) })
      }
      job.listeners.add(listener)
      try {
        while (!out.signal.aborted) {
          if (dirty) {
            dirty = false
            await out.send({ event: 'view', data: JSON.stringify(jobView(job).text) })
          }
          if (job.state !== 'running') break
          await out.sleep(250)
        }
        await out.send({ event: 'end', data: job.state })
      } finally {
        job.listeners.delete(listener)
      }
    })
  })
  return app
}
