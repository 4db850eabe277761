/**
 * SHA-256 / HMAC-SHA-256 checksum on WebCrypto, in the shape `@smithy/signature-v4` expects
 * (`new Sha256(secret?)`, `update`, `digest`). Works in Node, workerd and Deno without Node built-ins.
 */

type SourceData = string | ArrayBuffer | ArrayBufferView

function toBytes(data: SourceData): Uint8Array {
  if (typeof data === 'string') return new TextEncoder().encode(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return new Uint8Array(data)
}

export class WebCryptoSha256 {
  private readonly secret?: Uint8Array<ArrayBuffer>
  private chunks: Uint8Array[] = []

  constructor(secret?: SourceData) {
    if (secret !== undefined) this.secret = new Uint8Array(toBytes(secret))
  }

  update(data: Uint8Array): void {
    this.chunks.push(data.slice())
  }

  async digest(): Promise<Uint8Array> {
    const total = this.chunks.reduce((n, c) => n + c.byteLength, 0)
    const all = new Uint8Array(total)
    let at = 0
    for (const c of this.chunks) {
      all.set(c, at)
      at += c.byteLength
    }
    if (!this.secret) return new Uint8Array(await crypto.subtle.digest('SHA-256', all))
    const key = await crypto.subtle.importKey('raw', this.secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    return new Uint8Array(await crypto.subtle.sign('HMAC', key, all))
  }

  reset(): void {
    this.chunks = []
  }
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const h = new WebCryptoSha256()
  h.update(data)
  return toHex(await h.digest())
}

export function toHex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}
