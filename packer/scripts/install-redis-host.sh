#!/usr/bin/env bash
# The Redis image's host side: redis.conf (memory cap, eviction policy, AOF persistence), the
# boot-time password fetch, kernel settings Redis asks for, and the unit that runs the Redis
# container under systemd.
# Environment: REDIS_IMAGE (pre-pulled by install-docker.sh), REDIS_MAXMEMORY (e.g. 1536mb),
#              REDIS_MAXMEMORY_POLICY (default volatile-lru), IMAGE_VERSION.
# Packer runs an uploaded copy of this script: PROVISION_DIR says where scripts/ and files/ are.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${PROVISION_DIR:-$(dirname "${BASH_SOURCE[0]}")/..}/scripts/lib.sh"
require_root

image="${REDIS_IMAGE:?REDIS_IMAGE must name the Redis image}"
maxmemory="${REDIS_MAXMEMORY:-1gb}"
policy="${REDIS_MAXMEMORY_POLICY:-volatile-lru}"
[[ "$maxmemory" =~ ^[0-9]+(b|kb|mb|gb)?$ ]] || die "REDIS_MAXMEMORY must look like 1536mb, got $maxmemory"
case "$policy" in
  noeviction | volatile-lru | volatile-lfu | volatile-ttl) ;;
  *) die "REDIS_MAXMEMORY_POLICY must be noeviction or volatile-*: allkeys-* would evict queued jobs" ;;
esac
# A Redis size (1536mb, 1gb, 268435456) in whole megabytes, rounded up.
to_megabytes() {
  local number="${1%%[a-z]*}" unit="${1##*[0-9]}"
  case "$unit" in
    gb) echo $((number * 1024)) ;;
    mb) echo "$number" ;;
    kb) echo $(((number + 1023) / 1024)) ;;
    b | "") echo $(((number + 1048575) / 1048576)) ;;
  esac
}
# uid and gid of the redis user in the official image; it owns the data directory.
redis_uid=999

install_boot_tools
install_dir /etc/ocr-redis 0755
install_dir /etc/ocr-redis/conf.d 0755
install_dir /var/log/ocr-redis 0750
install_dir /var/lib/ocr-redis 0750 "$redis_uid:$redis_uid"

sed -e "s/@REDIS_MAXMEMORY@/$maxmemory/" -e "s/@REDIS_MAXMEMORY_POLICY@/$policy/" \
  "$FILES_DIR/redis/redis.conf" >/etc/ocr-redis/redis.conf
chmod 0644 /etc/ocr-redis/redis.conf
# User data's files: present but never overwritten once written.
install_default_file redis/service.env /etc/ocr-redis/service.env 0644
install_default_file redis/ssm-parameters /etc/ocr-redis/ssm-parameters 0644
# The container's memory limit: maxmemory twice (an AOF rewrite forks, and copy-on-write may
# duplicate the data set) plus room for the server itself.
maxmemory_mb="$(to_megabytes "$maxmemory")"
printf 'REDIS_IMAGE=%s\nCONTAINER_MEMORY=%sm\n' "$image" "$((2 * maxmemory_mb + 256))" >/etc/ocr-redis/image.env
chmod 0644 /etc/ocr-redis/image.env
install_file bin/redis-tls-setup /usr/local/libexec/ocr-image/redis-tls-setup 0755
pkg_install openssl

# Redis forks for AOF rewrites: without overcommit the fork can fail under memory pressure; and
# transparent huge pages make those forks slow.
install_file redis/sysctl.conf /etc/sysctl.d/90-ocr-redis.conf 0644
install_file redis/tmpfiles.conf /etc/tmpfiles.d/ocr-redis-thp.conf 0644

install_file systemd/ocr-redis.service /etc/systemd/system/ocr-redis.service 0644
enable_unit ocr-redis.service

write_image_release redis
