/**
 * The routes of `pibake serve`: pages are GETs that read the site afresh; actions are POSTs (CSRF
 * checked) behind a confirmation page; a running build is followed over server-sent events.
 */
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { streamSSE } from 'hono/streaming'
import { PibakeError } from '../errors.ts'
import { readSite } from '../site/store.ts'
import { planMove, rollbackRecipe, startBuild, startMove, type SiteContext } from './actions.ts'
import { buildsBody } from './builds-view.ts'
import { buildChanges } from './changes.ts'
import { fleetsBody } from './fleets-view.ts'
import { buildsData, fleetsData, logsDir, newPis } from './gather.ts'
import { accessGuard, csrfGuard, type Listen } from './guard.ts'
import type { Html } from './html.ts'
import { page } from './layout.ts'
import { changesBody, confirmBuild, confirmMove, confirmRollback, errorBody, jobBody, jobsBody, jobView, newPisBody, rollbackDone } from './pages.ts'
import { followRun } from './follow.ts'
import { requireRecord } from '../site/ops.ts'
import { buildRoot } from '../site/paths.ts'
import { treePaths } from '../site/record.ts'
import { join } from 'node:path'

export interface AppOptions {
  readonly listen: Listen
  /** Required on a non-loopback address. */
  readonly token?: string | undefined
  readonly csrf: string
}

export function createApp(ctx: SiteContext, options: AppOptions): Hono {
  const app = new Hono()
  const { csrf } = options
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
    const data = await buildsData(ctx, c.req.param('recipe'), 3000)
    return show(c, data.recipe.recipe, buildsBody(data, { report: false, csrf }))
  })
  app.get('/recipes/:recipe/builds/:id/changes', async (c) => {
    const record = await requireRecord(ctx.site, c.req.param('recipe'))
    const builds = [...record.builds].sort((a, b) => a.created.localeCompare(b.created))
    const index = builds.findIndex((b) => b.id === c.req.param('id'))
    if (index < 1 || record.where.nfs.kind !== 'local') throw new PibakeError(`build ${c.req.param('id')} of ${record.recipe} has no earlier build here to compare with`)
    const dir = join(buildRoot(treePaths(record), record.recipe, builds[index]!.id), '..')
    return show(c, `changes of ${builds[index]!.id}`, changesBody(record.recipe, builds[index]!.id, await buildChanges(dir, builds[index - 1]!.id, builds[index]!.id)))
  })
  app.get('/recipes/:recipe/live/events', async (c) => {
    const record = await requireRecord(ctx.site, c.req.param('recipe'))
    return followRun(c, logsDir(ctx.outDir), record.recipe)
  })

  app.get('/move', async (c) => show(c, 'move', confirmMove(await planMove(ctx.site, c.req.query('mac') ?? '', c.req.query('to') ?? ''), csrf)))
  app.post('/move', async (c) => {
    const form = await c.req.parseBody()
    const job = await startMove(ctx, String(form.mac ?? ''), String(form.to ?? ''))
    return c.redirect(`/jobs/${job.id}`, 303)
  })
  app.get('/recipes/:recipe/rollback', async (c) => {
    const record = await requireRecord(ctx.site, c.req.param('recipe'))
    const to = c.req.query('to') ?? ''
    if (!record.builds.some((b) => b.id === to)) throw new PibakeError(`${record.recipe} has no build ${to}`)
    return show(c, 'roll back', confirmRollback(record.recipe, record.live, to, csrf))
  })
  app.post('/recipes/:recipe/rollback', async (c) => {
    const form = await c.req.parseBody()
    return show(c, 'rolled back', rollbackDone(await rollbackRecipe(ctx, c.req.param('recipe'), String(form.to ?? ''))))
  })
  app.get('/recipes/:recipe/build', async (c) => {
    const record = await requireRecord(ctx.site, c.req.param('recipe'))
    return show(c, 'build', confirmBuild(record.recipe, record.file, ctx.outDir, csrf))
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
    return streamSSE(c, async (stream) => {
      let dirty = true
      const listener = (event: unknown) => {
        dirty = true
        if (event) void stream.writeSSE({ data: JSON.stringify(event) })
      }
      job.listeners.add(listener)
      stream.onAbort(() => void job.listeners.delete(listener))
      try {
        while (!stream.aborted) {
          if (dirty) {
            dirty = false
            await stream.writeSSE({ event: 'view', data: JSON.stringify(jobView(job).text) })
          }
          if (job.state !== 'running') break
          await stream.sleep(250)
        }
        await stream.writeSSE({ event: 'end', data: job.state })
      } finally {
        job.listeners.delete(listener)
      }
    })
  })
  return app
}
