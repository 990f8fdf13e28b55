// The container's one way out: a TCP forwarder listening on the sandbox network's gateway address
// (the host side of its bridge), piping each connection to the sandbox's policy proxy on loopback.
import {connect, createServer, type Server, type Socket} from 'node:net'
import {DockerError} from './errors.js'

export interface Forwarder {
  address: string
  port: number
  close(): Promise<void>
}

/** `allow`: whether a peer address may connect (the sandbox's subnet); others are dropped at once. */
export async function startForwarder(listen: {host: string; port: number}, target: {host: string; port: number}, allow: (address: string) => boolean): Promise<Forwarder> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    if (!allow(client.remoteAddress ?? '')) {
      client.destroy()
      return
    }
    const upstream = connect({host: target.host, port: target.port})
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new DockerError('DOCKER_NETWORK', `cannot listen on ${listen.host}:${listen.port} for the sandbox's proxy: ${e.message}`)))
    server.listen({host: listen.host, port: listen.port, exclusive: true}, () => resolve())
  })
  return {
    address: listen.host,
    port: listen.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
