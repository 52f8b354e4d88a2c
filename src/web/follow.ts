/**
 * A build started anywhere (the command line, a timer, the page) followed live from its JSON-lines
 * log: each line as it is written goes out as a server-sent event (the event itself, as `--json`
 * prints it) and, at most four times a second, the task list rendered again (`view`). The stream is
 * one of the server's bounded ones (src/web/sse.ts): a client that stops reading is dropped, and the
 * file is no longer followed.
 */
import { followLines } from '../site/dnsmasq-log.ts'
import { alive, parseEvent, readRuns } from './runs.ts'
import type { EventSender } from './sse.ts'
import { emptyTaskList, foldEvent, renderTaskList } from './tasks.ts'

export async function followRun(out: EventSender, logsDir: string, recipe: string): Promise<void> {
  const [newest] = await readRuns(logsDir, recipe, 1)
  if (!newest || newest.state !== 'running') {
    await out.send({ event: 'end', data: 'no build of this recipe is running' })
    return
  }
  const list = emptyTaskList()
  const stop = new AbortController()
  out.signal.addEventListener('abort', () => stop.abort(), { once: true })
  let dirty = false
  const following = followLines(newest.file, (line) => {
    const event = parseEvent(line)
    if (!event) return
    foldEvent(list, event)
    dirty = true
    if (event.type !== 'log' && event.type !== 'progress') out.push({ data: line })
    if (event.type === 'summary') stop.abort()
  }, stop.signal, 200)
  while (!stop.signal.aborted) {
    if (dirty) {
      dirty = false
      await out.send({ event: 'view', data: JSON.stringify(renderTaskList(list).text) })
    }
    await out.sleep(250)
    if (!alive(newest.pid)) stop.abort()
  }
  await following
  await out.send({ event: 'view', data: JSON.stringify(renderTaskList(list).text) })
  await out.send({ event: 'end', data: list.summary?.result ?? 'ended' })
}
