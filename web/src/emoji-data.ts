/**
 * The emoji the picker offers, by category, with the short names people search by
 * (Discord's and Slack's usual ones). Loaded only when a picker first opens.
 * Each entry is "<emoji> <name> [more names]".
 */

export interface EmojiCategory {
  id: string;
  title: string;
  icon: string;
  items: { char: string; names: string[] }[];
}

const RAW: [string, string, string, string][] = [
  [
    "people",
    "Smileys & people",
    "😀",
    `😀 grinning|😃 smiley|😄 smile|😁 grin|😆 laughing satisfied|😅 sweat_smile|🤣 rofl|😂 joy|🙂 slight_smile|🙃 upside_down|😉 wink|😊 blush|😇 innocent|🥰 smiling_face_with_hearts|😍 heart_eyes|🤩 star_struck|😘 kissing_heart|😋 yum|😛 stuck_out_tongue|😜 stuck_out_tongue_winking_eye|🤪 zany_face|😝 stuck_out_tongue_closed_eyes|🤑 money_mouth|🤗 hugging|🤭 hand_over_mouth|🤫 shushing|🤔 thinking|🤐 zipper_mouth|🤨 raised_eyebrow|😐 neutral_face|😑 expressionless|😶 no_mouth|😏 smirk|😒 unamused|🙄 rolling_eyes|😬 grimacing|🤥 lying_face|😌 relieved|😔 pensive|😪 sleepy|🤤 drooling_face|😴 sleeping|😷 mask|🤒 thermometer_face|🤕 head_bandage|🤢 nauseated_face|🤮 vomiting|🤧 sneezing_face|🥵 hot_face|🥶 cold_face|🥴 woozy_face|😵 dizzy_face|🤯 exploding_head|🤠 cowboy|🥳 partying_face|😎 sunglasses cool|🤓 nerd|🧐 monocle_face|😕 confused|😟 worried|🙁 slight_frown|😮 open_mouth|😯 hushed|😲 astonished|😳 flushed|🥺 pleading_face|😦 frowning|😧 anguished|😨 fearful|😰 cold_sweat|😥 disappointed_relieved|😢 cry|😭 sob|😱 scream|😖 confounded|😣 persevere|😞 disappointed|😓 sweat|😩 weary|😫 tired_face|🥱 yawning_face|😤 triumph|😡 rage|😠 angry|🤬 cursing|😈 smiling_imp|👿 imp|💀 skull|💩 poop|🤡 clown|👻 ghost|👽 alien|🤖 robot|😺 smiley_cat|😸 smile_cat|😹 joy_cat|😻 heart_eyes_cat|😼 smirk_cat|🙀 scream_cat|😿 crying_cat_face|😾 pouting_cat|🙈 see_no_evil|🙉 hear_no_evil|🙊 speak_no_evil|👋 wave|🤚 raised_back_of_hand|✋ raised_hand|🖖 vulcan|👌 ok_hand|🤌 pinched_fingers|✌️ v victory|🤞 crossed_fingers|🤟 love_you_gesture|🤘 metal|🤙 call_me|👈 point_left|👉 point_right|👆 point_up_2|👇 point_down|☝️ point_up|👍 thumbsup +1 like|👎 thumbsdown -1|✊ fist|👊 punch|👏 clap|🙌 raised_hands|👐 open_hands|🤲 palms_up_together|🤝 handshake|🙏 pray thanks|✍️ writing_hand|💪 muscle|🧠 brain|👀 eyes|👁️ eye|👅 tongue|👄 lips|👶 baby|🧒 child|👦 boy|👧 girl|🧑 person|👨 man|👩 woman|🧓 older_person|🙋 raising_hand|🤦 facepalm|🤷 shrug|🙇 bow|💁 information_desk_person|🙅 no_good|🙆 ok_woman|🧑‍💻 technologist|🕺 dancer|💃 dancing_woman|🏃 runner|🚶 walking`,
  ],
  [
    "nature",
    "Animals & nature",
    "🐶",
    `🐶 dog|🐱 cat|🐭 mouse|🐹 hamster|🐰 rabbit|🦊 fox|🐻 bear|🐼 panda|🐨 koala|🐯 tiger|🦁 lion|🐮 cow|🐷 pig|🐸 frog|🐵 monkey_face|🐔 chicken|🐧 penguin|🐦 bird|🐤 baby_chick|🦆 duck|🦅 eagle|🦉 owl|🦇 bat|🐺 wolf|🐗 boar|🐴 horse|🦄 unicorn|🐝 bee|🐛 bug|🦋 butterfly|🐌 snail|🐞 lady_beetle|🐜 ant|🕷️ spider|🐢 turtle|🐍 snake|🦎 lizard|🐙 octopus|🦑 squid|🦀 crab|🐠 tropical_fish|🐟 fish|🐬 dolphin|🐳 whale|🦈 shark|🐊 crocodile|🐘 elephant|🦒 giraffe|🐪 camel|🦘 kangaroo|🐕 dog2|🐈 cat2|🐇 rabbit2|🦔 hedgehog|🐾 paw_prints|🌵 cactus|🎄 christmas_tree|🌲 evergreen_tree|🌳 deciduous_tree|🌴 palm_tree|🌱 seedling|🌿 herb|☘️ shamrock|🍀 four_leaf_clover|🍁 maple_leaf|🍂 fallen_leaf|🍄 mushroom|🌷 tulip|🌹 rose|🌺 hibiscus|🌸 cherry_blossom|🌼 blossom|🌻 sunflower|🌞 sun_with_face|🌝 full_moon_with_face|🌙 crescent_moon|⭐ star|🌟 star2|✨ sparkles|⚡ zap|🔥 fire|🌈 rainbow|☀️ sunny|⛅ partly_sunny|☁️ cloud|🌧️ cloud_with_rain|⛈️ thunder_cloud_and_rain|❄️ snowflake|☃️ snowman|💧 droplet|🌊 ocean`,
  ],
  [
    "food",
    "Food & drink",
    "🍕",
    `🍏 green_apple|🍎 apple|🍐 pear|🍊 tangerine|🍋 lemon|🍌 banana|🍉 watermelon|🍇 grapes|🍓 strawberry|🍒 cherries|🍑 peach|🥭 mango|🍍 pineapple|🥥 coconut|🥝 kiwi|🍅 tomato|🥑 avocado|🍆 eggplant|🥕 carrot|🌽 corn|🌶️ hot_pepper|🥦 broccoli|🥔 potato|🍞 bread|🥐 croissant|🥖 baguette|🧀 cheese|🥚 egg|🍳 cooking|🥞 pancakes|🥓 bacon|🍗 poultry_leg|🍖 meat_on_bone|🌭 hotdog|🍔 hamburger|🍟 fries|🍕 pizza|🥪 sandwich|🌮 taco|🌯 burrito|🥗 salad|🍝 spaghetti|🍜 ramen|🍲 stew|🍛 curry|🍣 sushi|🍱 bento|🥟 dumpling|🍤 fried_shrimp|🍙 rice_ball|🍚 rice|🍦 icecream|🍩 doughnut|🍪 cookie|🎂 birthday cake|🍰 cake|🧁 cupcake|🍫 chocolate_bar|🍬 candy|🍭 lollipop|🍯 honey_pot|☕ coffee|🍵 tea|🧃 beverage_box|🥤 cup_with_straw|🍺 beer|🍻 beers|🥂 champagne_glass|🍷 wine_glass|🍸 cocktail|🍹 tropical_drink|🧊 ice_cube`,
  ],
  [
    "activity",
    "Activities & travel",
    "⚽",
    `⚽ soccer|🏀 basketball|🏈 football|⚾ baseball|🎾 tennis|🏐 volleyball|🏉 rugby_football|🎱 8ball|🏓 ping_pong|🏸 badminton|🥅 goal|⛳ golf|🏹 bow_and_arrow|🎣 fishing_pole|🥊 boxing_glove|🎽 running_shirt|🛹 skateboard|⛸️ ice_skate|🎿 ski|🏆 trophy|🥇 first_place|🥈 second_place|🥉 third_place|🏅 medal|🎖️ military_medal|🎫 ticket|🎪 circus_tent|🎭 performing_arts|🎨 art|🎬 clapper|🎤 microphone|🎧 headphones|🎼 musical_score|🎹 musical_keyboard|🥁 drum|🎷 saxophone|🎺 trumpet|🎸 guitar|🎻 violin|🎲 game_die|🧩 jigsaw|♟️ chess_pawn|🎯 dart|🎳 bowling|🎮 video_game|🕹️ joystick|🎰 slot_machine|🚗 car|🚕 taxi|🚌 bus|🏎️ race_car|🚓 police_car|🚑 ambulance|🚒 fire_engine|🚲 bike|🛵 motor_scooter|🚂 steam_locomotive|🚆 train|✈️ airplane|🚀 rocket|🛸 flying_saucer|🚁 helicopter|⛵ sailboat|🚢 ship|⚓ anchor|🗺️ map|🏔️ mountain_snow|🌋 volcano|🏕️ camping|🏖️ beach|🏠 house|🏢 office|🏰 castle|🗼 tokyo_tower|🗽 statue_of_liberty|🌉 bridge_at_night|🎡 ferris_wheel|🎢 roller_coaster`,
  ],
  [
    "objects",
    "Objects",
    "💡",
    `⌚ watch|📱 iphone mobile|💻 computer laptop|⌨️ keyboard|🖥️ desktop|🖨️ printer|🖱️ mouse_three_button|💾 floppy_disk|💿 cd|📷 camera|📹 video_camera|🎥 movie_camera|📞 telephone_receiver|☎️ telephone|📺 tv|📻 radio|🔋 battery|🔌 electric_plug|💡 bulb|🔦 flashlight|🕯️ candle|💸 money_with_wings|💵 dollar|💰 moneybag|💳 credit_card|💎 gem|⚖️ scales|🔧 wrench|🔨 hammer|🛠️ tools|⚙️ gear|🔩 nut_and_bolt|🧲 magnet|🔫 gun|💣 bomb|🔪 knife|🛡️ shield|🔮 crystal_ball|💊 pill|💉 syringe|🧬 dna|🔬 microscope|🔭 telescope|🧹 broom|🔑 key|🗝️ old_key|🚪 door|🛏️ bed|🧸 teddy_bear|🎁 gift|🎈 balloon|🎉 tada party|🎊 confetti_ball|🎀 ribbon|✉️ envelope|📦 package|📫 mailbox|📝 memo pencil|📁 file_folder|📅 date calendar|📌 pushpin|📎 paperclip|✂️ scissors|🔒 lock|🔓 unlock|🔔 bell|🔕 no_bell|📣 mega|📢 loudspeaker|🔍 mag|📚 books|📖 book|🔗 link|⏰ alarm_clock|⏳ hourglass_flowing_sand|🧪 test_tube`,
  ],
  [
    "symbols",
    "Symbols",
    "❤️",
    `❤️ heart|🧡 orange_heart|💛 yellow_heart|💚 green_heart|💙 blue_heart|💜 purple_heart|🖤 black_heart|🤍 white_heart|🤎 brown_heart|💔 broken_heart|❣️ heart_exclamation|💕 two_hearts|💞 revolving_hearts|💓 heartbeat|💗 heartpulse|💖 sparkling_heart|💘 cupid|💝 gift_heart|💯 100|💢 anger|💥 boom|💫 dizzy|💦 sweat_drops|💨 dash|💬 speech_balloon|💭 thought_balloon|💤 zzz|✅ white_check_mark|☑️ ballot_box_with_check|✔️ heavy_check_mark|❌ x|❎ negative_squared_cross_mark|➕ heavy_plus_sign|➖ heavy_minus_sign|➗ heavy_division_sign|❓ question|❔ grey_question|❗ exclamation|❕ grey_exclamation|‼️ bangbang|⁉️ interrobang|⚠️ warning|🚫 no_entry_sign|⛔ no_entry|🔞 underage|♻️ recycle|🆗 ok|🆕 new|🆒 cool_button|🆓 free|🆘 sos|🔴 red_circle|🟠 orange_circle|🟡 yellow_circle|🟢 green_circle|🔵 blue_circle|🟣 purple_circle|⚫ black_circle|⚪ white_circle|🟥 red_square|🟩 green_square|🟦 blue_square|🔺 small_red_triangle|🔻 small_red_triangle_down|➡️ arrow_right|⬅️ arrow_left|⬆️ arrow_up|⬇️ arrow_down|🔁 repeat|🔀 twisted_rightwards_arrows|▶️ arrow_forward|⏸️ pause_button|⏹️ stop_button|🎵 musical_note|🎶 notes|™️ tm|©️ copyright|®️ registered|🏳️ white_flag|🏴 black_flag|🏁 checkered_flag|🚩 triangular_flag_on_post|🏳️‍🌈 rainbow_flag`,
  ],
];

export const CATEGORIES: EmojiCategory[] = RAW.map(([id, title, icon, list]) => ({
  id,
  title,
  icon,
  items: list.split("|").map((entry) => {
    const [char, ...names] = entry.split(" ");
    return { char: char!, names };
  }),
}));
