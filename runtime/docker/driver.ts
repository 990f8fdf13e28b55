// The docker driver (placeholder until it is built): a container that shares the host kernel.
import {VmError} from '../vm/errors.js'
import type {RunOptions, VmDriver, VmResult, VmSpec} from '../vm/driver.js'

export class DockerDriver implements VmDriver {
  readonly name = 'docker'

  async available(): Promise<{ok: boolean; reason?: string}> {
    return {ok: false, reason: 'the docker driver is not built yet'}
  }

  async run(_spec: VmSpec, _options?: RunOptions): Promise<VmResult> {
    throw new VmError('VM_SPEC', 'the docker driver is not built yet')
  }
}
