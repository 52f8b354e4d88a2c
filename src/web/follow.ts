/**
 * A build started anywhere (the command line, a timer, the page) followed live from its JSON-lines
 * log: each line as it is written goes out as a server-sent event (the event itself, as `--json`
 * prints it) and, at most four times a second, the task list rendered again (`view`).
 */
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { followLines } from '../site/dnsmasq-log.ts'
import { alive, parseEvent, readRuns } from './runs.ts'
import { emptyTaskList, foldEvent, renderTaskList } from './tasks.ts'

export async function followRun(c: Context, logsDir: string, recipe: string): Promise<Response> {
  const [newest] = await readRuns(logsDir, recipe, 1)
  return streamSSE(c, async (stream) => {
    if (!newest || newest.state !== 'running') {
      await stream.writeSSE({ event: 'end', data: 'no build of this recipe is running' })
      return
    }
    const list = emptyTaskList()
    const stop = new AbortController()
    stream.onAbort(() => stop.abort())
    let dirty = false
    const following = followLines(newest.file, (line) => {
      const event = parseEvent(line)
      if (!event) return
      foldEvent(list, event)
      dirty = true
      if (event.type !== 'log' && event.type !== 'progress') void stream.writeSSE({ data: line })
      if (event.type === 'summary') stop.abort()
    }, stop.signal, 200)
    while (!stop.signal.aborted) {
      if (dirty) {
        dirty = false
        await stream.writeSSE({ event: 'view', data: JSON.stringify(renderTaskList(list).text) })
      }
      await stream.sleep(250)
      if (!alive(newest.pid)) stop.abort()
    }
    await following
    await stream.writeSSE({ event: 'view', data: JSON.stringify(renderTaskList(list).text) })
    await stream.writeSSE({ event: 'end', data: list.summary?.result ?? 'ended' })
  })
}
