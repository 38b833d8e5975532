import t from 'tap'
import { addressKey, countingKey } from '../../../lib/auth/client-address'

t.test('addressKey: IPv4 as is, IPv6 by its /64, anything else undefined', async t => {
  t.equal(addressKey('203.0.113.7'), '203.0.113.7')
  t.equal(addressKey('::ffff:10.0.0.1'), '10.0.0.1', 'an IPv4-mapped address is the IPv4 one')
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(addressKey('2001:DB8:0000:0001:ffff::5'), '2001:db8:0:1::/64', 'any spelling of one /64')
  t.equal(addressKey('2001:db8:1:2:3:4:1.2.3.4'), '2001:db8:1:2::/64', 'a trailing dotted quad')
  t.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'a zone id is dropped')
  for (const junk of ['not-an-address', '999.1.1.1', '1.2.3', '']) t.equal(addressKey(junk), undefined, JSON.stringify(junk))
})

t.test('countingKey falls back to the text itself', async t => {
  t.equal(countingKey('2001:db8::9'), '2001:db8:0:0::/64')
  t.equal(countingKey('unknown'), 'unknown')
})
