// A duplex over a socket that first yields bytes already read from it. Used when the proxy had to
// look at the first bytes of a tunnel (a ClientHello, an HTTP request line) before deciding to hand
// the connection to its HTTP parser or TLS terminator, which read from the start.
import {Duplex} from 'node:stream'
import type {Socket} from 'node:net'

export class PrefixedSocket extends Duplex {
  constructor(
    readonly socket: Socket,
    head: Buffer,
  ) {
    super({allowHalfOpen: true})
    if (head.length > 0) this.push(head)
    socket.on('data', (d: Buffer) => {
      if (!this.push(d)) socket.pause()
    })
    socket.on('end', () => this.push(null))
    socket.on('error', (e) => this.destroy(e))
    socket.on('close', () => this.destroy())
    socket.on('timeout', () => this.emit('timeout'))
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort
  }

  get localAddress(): string | undefined {
    return this.socket.localAddress
  }

  get localPort(): number | undefined {
    return this.socket.localPort
  }

  get bytesRead(): number {
    return this.socket.bytesRead
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten
  }

  override _read(): void {
    this.socket.resume()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.socket.write(chunk, cb)
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.socket.end(cb)
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    this.socket.destroy()
    cb(err)
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms)
    if (cb) this.once('timeout', cb)
    return this
  }

  setNoDelay(v?: boolean): this {
    this.socket.setNoDelay(v)
    return this
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay)
    return this
  }

  ref(): this {
    this.socket.ref()
    return this
  }

  unref(): this {
    this.socket.unref()
    return this
  }
}
