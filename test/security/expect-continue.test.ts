// `Expect: 100-continue` (curl sends it for bodies over 1 KB): the server
// invites the body only once the request has passed auth and the quota, so
// a refused client never uploads it.

import t from 'tap'
import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { buildApp, devToken } from '../helpers/build-app'
import { parseResponse } from '../helpers/raw-http'

const body = JSON.stringify({ input_data: [5.1, 3.5, 1.4, 0.2] })

function head (headers: Record<string, string>): string {
  const lines = Object.entries({ host: 'localhost', 'content-type': 'application/json', 'content-length': String(body.length), expect: '100-continue', ...headers })
  return `POST /predict HTTP/1.1\r\n${lines.map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n`
}

/** Everything the server sends on `socket` until `done` says the text is complete. */
async function read (socket: Socket, done: (text: string) => boolean): Promise<string> {
  let text = ''
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no complete answer: ${JSON.stringify(text)}`)), 5000)
    socket.on('data', chunk => {
      text += String(chunk)
      if (done(text)) {
        clearTimeout(timer)
        resolve(text)
      }
    })
  })
}

t.test('100 Continue comes only after auth: a bad token gets its 401 at once, a good one is invited to send', async t => {
  const app = await buildApp(t, {}, { token: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo

  const refused = connect(port, '127.0.0.1')
  t.teardown(() => { refused.destroy() })
  refused.write(head({}))
  const refusal = await read(refused, text => parseResponse(text) !== undefined)
  t.notMatch(refusal, /100 Continue/, 'no invitation to send the body')
  t.equal(parseResponse(refusal)?.statusCode, 401, 'the 401 comes without the body')

  const invited = connect(port, '127.0.0.1')
  t.teardown(() => { invited.destroy() })
  invited.write(head({ authorization: `Bearer ${devToken()}` }))
  const interim = await read(invited, text => text.includes('\r\n\r\n'))
  t.match(interim, /^HTTP\/1\.1 100 Continue\r\n\r\n/, 'an authenticated request is invited')
  const answer = read(invited, text => parseResponse(text.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '')) !== undefined)
  invited.write(body)
  const response = parseResponse((await answer).replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))
  t.equal(response?.statusCode, 200)
  t.match(JSON.parse(response?.body ?? '{}'), { prediction: ['setosa'] })
})
