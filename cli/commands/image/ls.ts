import {OciLayoutStore} from '../../../registry-client/layout-store.js'
import {storeDir} from '../../../runtime/home.js'
import {listImages, type ListedImage} from '../../../runtime/image/list.js'
import {humanSize} from '../ls.js'
import {KitCommand} from '../../base.js'

export default class ImageLs extends KitCommand {
  static override description = 'List the agent images in the local store, and whether each root filesystem is unpacked in the cache.'

  async run(): Promise<{images: ListedImage[]}> {
    const store = await OciLayoutStore.open(storeDir())
    const images = await listImages(store)
    if (!this.jsonEnabled()) {
      const rows = [['REFERENCE', 'DIGEST', 'LAYERS', 'SIZE', 'UNPACKED'], ...images.map((i) => [i.reference, i.digest.slice(7, 19), String(i.layers), humanSize(i.size), i.unpacked ? 'yes' : 'no'])]
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
      for (const r of rows) this.log(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '))
    }
    return {images}
  }
}
