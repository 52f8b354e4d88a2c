import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'
import { parseGetfattr, readTreeXattrs, unescapeOctal } from '../../src/snapshot/xattrs.ts'
import { setXattr, removeTempDirs, tempDir } from './tree.ts'

test('reads an xattr whose name holds = and one with an empty value', async () => {
  const dir = await tempDir()
  await writeFile(join(dir.path, 'f'), '')
  await setXattr(join(dir.path, 'f'), 'user.a=b', 'v')
  await exec(['setfattr', '-n', 'user.empty', join(dir.path, 'f')])
  assert.equal(await readTreeXattrs(dir.path), new Map([['/f', { 'user.a=b': '76', 'user.empty': '' }]]))
})

test('reads the xattrs of a symlink itself, not of its target', async () => {
  const dir = await tempDir()
  await writeFile(join(dir.path, 'target'), '')
  await setXattr(join(dir.path, 'target'), 'user.on', 'target')
  await symlink('target', join(dir.path, 'link'))
  await setXattr(join(dir.path, 'link'), 'trusted.on', 'link')
  const xattrs = await readTreeXattrs(dir.path)
  assert.equal(xattrs.get('/link'), { 'trusted.on': Buffer.from('link').toString('hex') })
})

test('reads the xattrs of the tree root as /', async () => {
  const dir = await tempDir()
  await setXattr(dir.path, 'user.root', '1')
  assert.equal((await readTreeXattrs(dir.path)).get('/'), { 'user.root': '31' })
})

test('unescapes octal escapes, also when they spell a UTF-8 character', () => {
  assert.is(unescapeOctal('/a\\012b\\134c'), '/a\nb\\c')
  assert.is(unescapeOctal('/caf\\303\\251'), '/café')
})

test('parses getfattr output of a tree under the filesystem root', () => {
  const output = '# file: /etc/x\nuser.a=0x01\n\n# file: /\nuser.b=0x0A\n'
  assert.equal(parseGetfattr(output, '/'), new Map([['/etc/x', { 'user.a': '01' }], ['/', { 'user.b': '0a' }]]))
})

test.after.each(removeTempDirs)

test.run()
