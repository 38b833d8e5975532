import { once } from 'node:events'
import { createServer } from 'node:net'

/** A port nobody listens on now (the OS's pick on 127.0.0.1), for the bench's servers and the tests'. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port from the OS')
  return address.port
}
